#!/usr/bin/env python3
"""Real, freely licensed music out of Debian's game packages, for the tests, the demo and the evaluation.

    python3 infra/music/fetch.py SET OUT_DIR

SET:
  ci         3 packages, about 66 tracks (small enough for CI)
  dev        7 packages, about 213 tracks, 12 h (the evaluation catalogue; ci is part of it)
  negatives  4 packages of other music, never enrolled (unknown songs, babble noise)
  scale      the 300 tracks (15 h, 66 other packages) listed in infra/music/scale-files.tsv

Package sets keep every file of the packages that looks like music: .ogg/.mp3/.flac/.opus over 150 KiB
and .wav over 2 MiB (smaller ones are sound effects), de-duplicated by content in package and path
order. The scale set takes exactly the files its list names (a path in the package, or
`<zip archive in the package>!<member>`), each checked against its sha256.

Files land in OUT_DIR/<package>/<file>; OUT_DIR/manifest.tsv lists path, package, bytes, sha256.
A file ffmpeg cannot decode goes to OUT_DIR-undecodable/ instead (bad input for tests, not music).
ffmpeg is $FFMPEG, else ffmpeg on PATH, else the one npm installed (node_modules/@ffmpeg-installer);
with none of them nothing is checked.

Packages come from `apt-get download` (no root needed once the package lists exist; as root the lists
are fetched when missing) and are unpacked with `dpkg-deb -x`: nothing is installed. Downloads are
kept in $BLINDEAR_DEB_CACHE (default: <repo>/.cache/debs) and re-used. Idempotent.
"""
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SETS = {
    "ci": ["colobot-common-sounds", "drascula-music", "singularity-music"],
    "dev": ["colobot-common-sounds", "drascula-music", "singularity-music", "wesnoth-1.16-music",
            "hedgewars-data", "supertux-data", "warzone2100-music"],
    "negatives": ["pushover-data", "hyperrogue-music", "fillets-ng-data", "xmoto-data"],
}
SCALE_LIST = os.path.join(HERE, "scale-files.tsv")
COMPRESSED = (".ogg", ".mp3", ".flac", ".opus")
MIN_COMPRESSED = 150 * 1024  # find -size +150k: more than 150 KiB
MIN_WAV = 2 * 1024 * 1024    # find -size +2M: more than 2 MiB


def say(msg):
    print(f"fetch-music: {msg}", file=sys.stderr, flush=True)


def die(msg, code=1):
    say(f"error: {msg}")
    sys.exit(code)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def need(tool, hint):
    if shutil.which(tool) is None:
        die(f"{tool} not found: {hint}")


def ensure_package_lists(probe):
    """apt-get download needs package lists; fetch them once (as root) when this machine has none."""
    if subprocess.run(["apt-cache", "show", probe], capture_output=True).returncode == 0:
        return
    if os.geteuid() != 0:
        die(f"apt knows no package {probe}: run `apt-get update` as root once (no package is installed)")
    say("no apt package lists yet: apt-get update")
    subprocess.run(["apt-get", "update", "-qq"], check=True)


def deb_for(pkg, cache):
    def cached():
        names = sorted(n for n in os.listdir(cache) if n.startswith(pkg + "_") and n.endswith(".deb"))
        return os.path.join(cache, names[0]) if names else None

    found = cached()
    if found:
        return found
    say(f"downloading {pkg}")
    # As root, apt drops privileges to _apt for downloads unless told not to; the cache is ours.
    cmd = ["apt-get", "download", "-qq", pkg]
    if os.geteuid() == 0:
        cmd[2:2] = ["-o", "APT::Sandbox::User=root"]
    if subprocess.run(cmd, cwd=cache).returncode != 0:
        die(f"apt-get download {pkg} failed (is a Debian mirror reachable?)")
    found = cached()
    if not found:
        die(f"apt-get download {pkg} left no .deb in {cache}")
    return found


def find_ffmpeg():
    candidates = [os.environ.get("FFMPEG"), shutil.which("ffmpeg"),
                  os.path.join(REPO, "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    say("no ffmpeg found: files are not checked for decodability")
    return None


def decodes(ffmpeg, path):
    if ffmpeg is None:
        return True
    r = subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-i", path, "-t", "2", "-f", "null", "-"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def looks_like_music(path):
    low = path.lower()
    size = os.path.getsize(path)
    if low.endswith(COMPRESSED):
        return size > MIN_COMPRESSED
    return low.endswith(".wav") and size > MIN_WAV


def walk_sorted(root):
    """Every regular file under root, sorted by full path bytes (the C-locale order of `find | sort`)."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return sorted(out, key=os.fsencode)


def write_manifest(out, rows):
    tmp = os.path.join(out, "manifest.tsv.tmp")
    with open(tmp, "w") as f:
        f.write("path\tpackage\tbytes\tsha256\n")
        for r in rows:
            f.write("\t".join(str(v) for v in r) + "\n")
    os.replace(tmp, os.path.join(out, "manifest.tsv"))


def fetch_packages(pkgs, out, cache):
    ffmpeg = find_ffmpeg()
    undecodable = out.rstrip("/") + "-undecodable"
    seen, rows = set(), []
    for pkg in pkgs:
        deb = deb_for(pkg, cache)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
            os.makedirs(os.path.join(out, pkg), exist_ok=True)
            for f in walk_sorted(tmp):
                if not looks_like_music(f):
                    continue
                digest = sha256(f)
                if digest in seen:
                    continue
                seen.add(digest)
                name = os.path.basename(f)
                dest = os.path.join(out, pkg, name)
                if not decodes(ffmpeg, f):
                    os.makedirs(undecodable, exist_ok=True)
                    shutil.copyfile(f, os.path.join(undecodable, name))
                    if os.path.exists(dest):
                        os.remove(dest)
                    continue
                if not os.path.exists(dest):
                    shutil.copyfile(f, dest)
                rows.append((f"{pkg}/{name}", pkg, os.path.getsize(f), digest))
    return rows


def extension_by_content(path):
    with open(path, "rb") as f:
        head = f.read(4)
    known = {b"OggS": ".ogg", b"fLaC": ".flac", b"ID3\x03": ".mp3", b"ID3\x04": ".mp3"}
    return known.get(head, ".mp3" if head[:2] == b"\xff\xfb" else "")


def fetch_listed(listing, out, cache):
    with open(listing) as f:
        items = list(csv.DictReader(f, delimiter="\t"))
    by_pkg = {}
    for it in items:
        by_pkg.setdefault(it["package"], []).append(it)
    rows = []
    for pkg in sorted(by_pkg):
        with tempfile.TemporaryDirectory() as tmp:
            unpacked = False
            used = set()
            for it in by_pkg[pkg]:
                base = os.path.basename(it["member"].split("!")[-1])
                name, n = base, 1
                while name in used:  # two members with one file name: number the later ones
                    n += 1
                    stem, ext = os.path.splitext(base)
                    name = f"{stem}-{n}{ext}"
                used.add(name)
                dest = os.path.join(out, pkg, name)
                if not os.path.splitext(name)[1] and os.path.exists(dest + ".ogg"):
                    name, dest = name + ".ogg", dest + ".ogg"
                if not (os.path.exists(dest) and sha256(dest) == it["sha256"]):
                    if not unpacked:
                        subprocess.run(["dpkg-deb", "-x", deb_for(pkg, cache), tmp], check=True)
                        unpacked = True
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    member = it["member"]
                    if "!" in member:
                        archive, inner = member.split("!", 1)
                        with zipfile.ZipFile(os.path.join(tmp, archive.lstrip("/"))) as z, \
                                z.open(inner) as src, open(dest, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                    else:
                        shutil.copyfile(os.path.join(tmp, member.lstrip("/")), dest)
                    if sha256(dest) != it["sha256"]:
                        os.remove(dest)
                        say(f"{pkg} {member}: checksum differs from the list; skipped")
                        continue
                    if not os.path.splitext(name)[1]:  # stored without an extension: name it by its format
                        ext = extension_by_content(dest)
                        if ext:
                            os.replace(dest, dest + ext)
                            name, dest = name + ext, dest + ext
                rows.append((f"{pkg}/{name}", pkg, os.path.getsize(dest), it["sha256"]))
    return rows


def main(argv):
    if len(argv) != 3 or argv[1] not in (*SETS, "scale"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        die(f"usage: {os.path.basename(argv[0])} {'|'.join((*SETS, 'scale'))} OUT_DIR", 2)
    set_name, out = argv[1], os.path.abspath(argv[2])
    need("apt-get", "the music comes from Debian packages (apt-get download)")
    need("dpkg-deb", "the music comes from Debian packages (dpkg-deb -x)")
    cache = os.path.abspath(os.environ.get("BLINDEAR_DEB_CACHE") or os.path.join(REPO, ".cache", "debs"))
    os.makedirs(cache, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    if set_name == "scale":
        with open(SCALE_LIST) as f:
            first = next(csv.DictReader(f, delimiter="\t"))["package"]
        ensure_package_lists(first)
        rows = fetch_listed(SCALE_LIST, out, cache)
    else:
        ensure_package_lists(SETS[set_name][0])
        rows = fetch_packages(SETS[set_name], out, cache)
    write_manifest(out, rows)
    say(f"{len(rows)} tracks of set '{set_name}' in {out}")


if __name__ == "__main__":
    main(sys.argv)
