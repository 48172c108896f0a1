#!/usr/bin/env bash
# Fills the empty FERNET_KEY and AIRFLOW__API_AUTH__JWT_SECRET lines of an env file
# (default: ./.env) with fresh random values.  Values already set are never changed:
# a new Fernet key would make every stored connection password unreadable.
#
#   compose/generate-secrets.sh            # ./.env
#   compose/generate-secrets.sh /etc/ebay-trends/prod.env
#
# The file then holds real secrets: keep it out of version control (docs/OPERATIONS.md).
# Needs python3 (standard library only).
set -euo pipefail

env_file="${1:-.env}"
if [[ ! -f $env_file ]]; then
    echo "generate-secrets: $env_file not found" >&2
    exit 1
fi

python3 - "$env_file" <<'PY'
import base64, os, re, secrets, sys

path = sys.argv[1]
generators = {
    # Fernet key: url-safe base64 of 32 random bytes (what Fernet.generate_key() returns).
    "FERNET_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    # JWT signing secret shared by every Airflow component (HS512 wants >= 64 bytes).
    "AIRFLOW__API_AUTH__JWT_SECRET": lambda: secrets.token_urlsafe(64),
}
with open(path) as fh:
    lines = fh.read().splitlines(keepends=True)
filled, kept = [], []
for i, line in enumerate(lines):
    m = re.match(r"^(\w+)=(.*?)\s*$", line)
    if not m or m.group(1) not in generators:
        continue
    name, value = m.groups()
    if value.strip("'\"") == "":
        lines[i] = f"{name}={generators[name]()}\n"
        filled.append(name)
    else:
        kept.append(name)
missing = sorted(set(generators) - set(filled) - set(kept))
if missing:
    sys.exit(f"generate-secrets: {path} has no line for {', '.join(missing)}")
tmp = path + ".tmp"
with open(tmp, "w") as fh:
    fh.writelines(lines)
os.chmod(tmp, 0o600)
os.replace(tmp, path)
for name in filled:
    print(f"generate-secrets: {name} generated")
for name in kept:
    print(f"generate-secrets: {name} already set, kept")
PY
