// An id (UUID) shown by its first 8 characters so tables fit a phone; screen readers and
// find-in-page still get all of it.

export function ShortId({ id }: { id: string }) {
  return (
    <code className="admin-id">
      {id.slice(0, 8)}<span aria-hidden="true">…</span><span className="visually-hidden">{id.slice(8)}</span>
    </code>
  );
}
