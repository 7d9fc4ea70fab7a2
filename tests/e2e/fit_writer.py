"""A minimal FIT file writer for the import test: a file_id and `record` messages, laid out
as Garmin's FIT protocol documents it (14-byte header, definition and data messages, CRC-16)."""

from __future__ import annotations

import struct

FIT_EPOCH_S = 631065600  # 1989-12-31T00:00:00Z


def crc16(data: bytes, crc: int = 0) -> int:
    table = [0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
             0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400]
    for byte in data:
        tmp = table[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ table[byte & 0xF]
        tmp = table[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ table[(byte >> 4) & 0xF]
    return crc


def definition(local: int, global_num: int, fields: list[tuple[int, int, int]]) -> bytes:
    out = struct.pack("<BBBHB", 0x40 | local, 0, 0, global_num, len(fields))
    return out + b"".join(struct.pack("<BBB", num, size, base) for num, size, base in fields)


def write(path: str, points: list[tuple[int, float, float, float, int]]) -> None:
    """points: (unix_ms, lat, lon, alt_m, hr_bpm)"""
    body = bytearray()
    # file_id: type(0)=4 activity (enum), manufacturer(1)=255 (uint16), time_created(4) (uint32)
    body += definition(0, 0, [(0, 1, 0x00), (1, 2, 0x84), (4, 4, 0x86)])
    body += struct.pack("<BBHI", 0, 4, 255, points[0][0] // 1000 - FIT_EPOCH_S)
    # record: timestamp(253) uint32, position_lat(0) sint32, position_long(1) sint32,
    # altitude(2) uint16 (scale 5, offset 500), heart_rate(3) uint8
    body += definition(1, 20, [(253, 4, 0x86), (0, 4, 0x85), (1, 4, 0x85), (2, 2, 0x84), (3, 1, 0x02)])
    for t_ms, lat, lon, alt, hr in points:
        body += struct.pack("<BIiiHB", 1, t_ms // 1000 - FIT_EPOCH_S, round(lat * 2**31 / 180),
                            round(lon * 2**31 / 180), round((alt + 500) * 5), hr)
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", crc16(header))
    data = header + bytes(body)
    with open(path, "wb") as f:
        f.write(data + struct.pack("<H", crc16(data)))
