#!/usr/bin/env python3
"""Writes a synthetic one-stop-shop directory export (CSV, as a spreadsheet saves it: UTF-8 with
a byte-order mark, CRLF) for benchmarks: N accounts over 200 units, about 1% without a personal
ID number, 1% with an invalid one and 0.5% sharing a number with another account.

Usage: gen-directory.py ROWS OUT.csv [SEED]
Nobody in it is real: names are drawn from common Vietnamese parts, numbers are random."""
import random
import sys

rows = int(sys.argv[1])
out = sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 59)

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Thu", "Hoài"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến"]
PROVINCES = ["001", "004", "022", "031", "038", "046", "048", "052", "056", "075", "079", "092"]
UNITS = [("UBND-P%03d" % i, "UBND phường %d" % i) for i in range(1, 181)] + [
    ("SO-%02d" % i, "Sở ban ngành số %d" % i) for i in range(1, 20)] + [("BD-MOTCUA", "Bưu điện - Bộ phận Một cửa")]

def personal_id(year):
    century = 0 if year < 2000 else 2
    sex = rng.randint(0, 1)
    return "%s%d%02d%06d" % (rng.choice(PROVINCES), century + sex, year % 100, rng.randint(0, 999999))

held = []
with open(out, "w", encoding="utf-8-sig", newline="") as f:
    f.write("username,full_name,unit_code,unit_name,kind,personal_id,birth_date,phone,email\r\n")
    for i in range(rows):
        year = rng.randint(1960, 2004)
        birth = "%02d/%02d/%d" % (rng.randint(1, 28), rng.randint(1, 12), year)
        r = rng.random()
        if r < 0.01:
            pid = ""
        elif r < 0.02:
            pid = personal_id(year)[:11]  # a spreadsheet ate a digit
        elif r < 0.025 and held:
            pid, birth = rng.choice(held)  # the same person entered twice
        else:
            pid = personal_id(year)
            held.append((pid, birth))
        code, unit = rng.choice(UNITS)
        kind = "staff" if rng.random() < 0.7 else "citizen"
        name = "%s %s %s" % (rng.choice(FAMILY), rng.choice(MIDDLE), rng.choice(GIVEN))
        if rng.random() < 0.05:
            name = '"%s, %s"' % (name, rng.choice(GIVEN))
        f.write("cb%06d,%s,%s,%s,%s,%s,%s,09%08d,cb%06d@example.gov.vn\r\n" % (
            i, name, code, unit, kind, pid, birth if pid != "" or i % 2 else "", rng.randint(0, 99999999), i))
