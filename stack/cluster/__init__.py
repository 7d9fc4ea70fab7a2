"""`stride cluster`: a multi-host Stride cluster on one machine, each host a Linux network
namespace with its own address on a bridge.

One namespace, `core`, is the part a real deployment buys as managed services and never
faults here: the Ray head, PostgreSQL, Redis and the load balancer (HAProxy). Each of the N
hosts runs an sshd (the Ray cluster launcher reaches it like a machine), a Ray worker node
(started by `ray up cluster.yaml`), a Kafka broker that is also a KRaft controller, a gateway
and a stream worker. Every process of a host lives in its namespace, so killing a host is
SIGKILLing every pid `ip netns pids` names, and partitioning it is taking its link down.
"""
