#!/usr/bin/env python3
"""Rebuild the real handwritten-digit test set from public GitHub repositories.

    python build_set.py OUT_DIR [--mirror DIR] [--cache DIR] [--manifest FILE] [--force]

For every repository named in manifest.csv the script looks for a git directory
under --mirror (the layout that `fetch` produces: DIR/owner+name/repo, a bare
repository, or DIR/owner+name/repo/.git; DIR/owner+name.git, DIR/owner/name.git and
DIR/owner+name are accepted too). Without one it runs
`git clone --bare --filter=blob:none https://github.com/owner/name` into --cache.
Each picture is read with `git cat-file blob COMMIT:PATH`; when the pinned commit is
missing the script fetches it (also from refs/pull/*, for pictures that live in pull
requests) or falls back to the newest commit whose blob at PATH has the same sha256.
Every file is checked against its sha256 before it is written, unchanged, to
OUT_DIR/<kind>/<id>.<ext>; OUT_DIR/labels.csv lists path,label,kind.
The set is assembled in a temporary directory beside OUT_DIR and renamed into place.
Standard library only; needs git on PATH.
"""
import argparse
import csv
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = ['id', 'repo', 'commit', 'path', 'label', 'kind', 'sha256']
KINDS = {'photo', 'scan', 'paint'}


class BuildError(Exception):
    pass


def git(gdir, *args, check=True, env=None):
    cmd = ['git', '--git-dir', gdir, *args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if check and p.returncode != 0:
        msg = p.stderr.decode('utf-8', 'replace').strip().splitlines()
        raise BuildError(f"git {' '.join(args[:2])} failed in {gdir}: {msg[-1] if msg else 'exit %d' % p.returncode}")
    return p


def is_gitdir(d):
    return os.path.isfile(os.path.join(d, 'HEAD')) and os.path.isdir(os.path.join(d, 'objects'))


def find_in_mirror(mirror, repo):
    owner, name = repo.split('/', 1)
    flat = f'{owner}+{name}'
    for cand in (os.path.join(mirror, flat, 'repo'), os.path.join(mirror, flat, 'repo', '.git'),
                 os.path.join(mirror, flat + '.git'), os.path.join(mirror, owner, name + '.git'),
                 os.path.join(mirror, flat), os.path.join(mirror, flat, '.git')):
        if is_gitdir(cand):
            return cand
    return None


def noprompt_env():
    env = dict(os.environ)
    env['GIT_TERMINAL_PROMPT'] = '0'
    return env


def clone_into_cache(cache, repo, base):
    owner, name = repo.split('/', 1)
    dest = os.path.join(cache, f'{owner}+{name}.git')
    if is_gitdir(dest):
        return dest
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{owner}+{name}.', dir=cache)
    url = f'{base.rstrip("/")}/{repo}'
    print(f'cloning {url} ...', file=sys.stderr)
    p = subprocess.run(['git', 'clone', '--quiet', '--bare', '--filter=blob:none', url, tmp],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=noprompt_env())
    if p.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        err = p.stderr.decode('utf-8', 'replace').strip().splitlines()
        raise BuildError(f"cannot clone {url}: {err[-1] if err else 'git exit %d' % p.returncode}")
    os.rename(tmp, dest)
    return dest


def has_commit(gdir, commit):
    return git(gdir, 'cat-file', '-e', f'{commit}^{{commit}}', check=False).returncode == 0


def fetch_commit(gdir, commit):
    """Fetch a commit missing from a cache clone (direct by id, then all pull-request heads)."""
    env = noprompt_env()
    for refspec in (commit, '+refs/pull/*/head:refs/pull/*/head'):
        git(gdir, 'fetch', '--quiet', '--filter=blob:none', 'origin', refspec, check=False, env=env)
        if has_commit(gdir, commit):
            return True
    return False


def read_blob(gdir, commit, path):
    p = git(gdir, 'cat-file', 'blob', f'{commit}:{path}', check=False, env=noprompt_env())
    return p.stdout if p.returncode == 0 else None


def fallback_by_sha(gdir, path, sha):
    """Newest commit (any ref) whose blob at PATH has the wanted sha256."""
    p = git(gdir, 'log', '--all', '--format=%H', '--', path, check=False)
    seen = set()
    for c in p.stdout.decode().split():
        q = git(gdir, 'rev-parse', f'{c}:{path}', check=False)
        if q.returncode != 0:
            continue
        blob = q.stdout.decode().strip()
        if blob in seen:
            continue
        seen.add(blob)
        data = git(gdir, 'cat-file', 'blob', blob, check=False).stdout
        if hashlib.sha256(data).hexdigest() == sha:
            return c, data
    return None, None


def load_manifest(fn):
    try:
        with open(fn, newline='') as fh:
            rows = list(csv.DictReader(fh))
    except OSError as e:
        raise BuildError(f'cannot read manifest {fn}: {e.strerror}')
    if not rows or set(FIELDS) - set(rows[0].keys()):
        raise BuildError(f'manifest {fn} must have columns {",".join(FIELDS)}')
    ids = set()
    for n, r in enumerate(rows, 2):
        if r['id'] in ids:
            raise BuildError(f'manifest line {n}: duplicate id {r["id"]}')
        ids.add(r['id'])
        if r['kind'] not in KINDS or r['label'] not in [str(d) for d in range(10)]:
            raise BuildError(f'manifest line {n}: bad kind or label for {r["id"]}')
        if len(r['commit']) != 40 or len(r['sha256']) != 64 or '/' not in r['repo']:
            raise BuildError(f'manifest line {n}: bad repo, commit or sha256 for {r["id"]}')
    return rows


def ext_of(path):
    e = os.path.splitext(path)[1].lower().lstrip('.')
    return e or 'bin'


def build(args):
    if shutil.which('git') is None:
        raise BuildError('git is not on PATH')
    rows = load_manifest(args.manifest)
    out = os.path.abspath(args.out_dir)
    if os.path.exists(out) and not args.force:
        raise BuildError(f'{out} exists (use --force to replace it)')
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.' + os.path.basename(out) + '.tmp-', dir=parent)
    try:
        gdirs, fetched, used_fallback = {}, set(), 0
        labels = []
        for r in rows:
            repo = r['repo']
            if repo not in gdirs:
                g = find_in_mirror(args.mirror, repo) if args.mirror else None
                gdirs[repo] = (g, False) if g else (clone_into_cache(args.cache, repo, args.remote_base), True)
            gdir, ours = gdirs[repo]
            commit, path, sha = r['commit'], r['path'], r['sha256']
            data = None
            if has_commit(gdir, commit) or (ours and fetch_commit(gdir, commit)):
                data = read_blob(gdir, commit, path)
            if data is None or hashlib.sha256(data).hexdigest() != sha:
                c2, data = fallback_by_sha(gdir, path, sha)
                if data is None:
                    raise BuildError(f'{r["id"]}: no blob with sha256 {sha[:12]}… at {repo}:{path} '
                                     f'(commit {commit[:12]} missing or changed)')
                used_fallback += 1
                print(f'note: {r["id"]}: pinned commit {commit[:12]} unusable, took {c2[:12]}', file=sys.stderr)
            rel = f'{r["kind"]}/{r["id"]}.{ext_of(path)}'
            dst = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, 'wb') as fh:
                fh.write(data)
            labels.append((rel, r['label'], r['kind']))
        with open(os.path.join(tmp, 'labels.csv'), 'w', newline='') as fh:
            w = csv.writer(fh, lineterminator='\n')
            w.writerow(['path', 'label', 'kind'])
            w.writerows(labels)
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix='.' + os.path.basename(out) + '.old-', dir=parent)
            os.rename(out, os.path.join(old, 'x'))
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    kinds = {}
    for _, _, k in labels:
        kinds[k] = kinds.get(k, 0) + 1
    print(f'wrote {len(labels)} pictures to {out} ({", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))}; '
          f'{len(gdirs)} repositories{"; %d via fallback commit" % used_fallback if used_fallback else ""})')


def main():
    ap = argparse.ArgumentParser(description='Rebuild the real handwritten-digit test set from GitHub snapshots.')
    ap.add_argument('out_dir', metavar='OUT_DIR')
    ap.add_argument('--mirror', metavar='DIR', help='directory of bare git snapshots (e.g. /work/.mirror)')
    ap.add_argument('--cache', metavar='DIR', default=os.path.join(
        os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'lussi-photo-set'),
        help='where to clone repositories missing from --mirror (default: %(default)s)')
    ap.add_argument('--remote-base', metavar='URL', default='https://github.com',
                    help='where owner/name repositories are cloned from (default: %(default)s)')
    ap.add_argument('--manifest', metavar='FILE', default=os.path.join(HERE, 'manifest.csv'))
    ap.add_argument('--force', action='store_true', help='replace OUT_DIR if it exists')
    args = ap.parse_args()
    try:
        build(args)
    except BuildError as e:
        print(f'build_set: error: {e}', file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print('build_set: interrupted', file=sys.stderr)
        sys.exit(130)


if __name__ == '__main__':
    main()
