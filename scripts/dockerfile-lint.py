#!/usr/bin/env python3
"""Lints the Dockerfiles in deploy/ (no Docker engine or hadolint runs on CI machines, so the rules are checked here).

usage: scripts/dockerfile-lint.py [--plan] DOCKERFILE...
Prints "  ok   RULE" / "  FAIL RULE: why" per rule and file and exits 1 on any failure. With --plan it prints, instead,
the final stage of the one file as JSON (copies from the build stage, workdir, env, user, entrypoint, exposed ports),
for scripts/image-dry-run.sh to lay out and run the published binary the way the image would.
"""

import json
import os
import re
import shlex
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLISH = "dotnet publish src/Archestra.Gateway -c Release -r linux-x64 -p:PublishAot=true -o /out"


def instructions(path):
    """(line number, keyword, argument text) per instruction; continuations joined, comments dropped."""
    out, pending, start = [], "", 0
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if not pending:
                start = number
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            text = (pending + line).strip()
            pending = ""
            keyword, _, rest = text.partition(" ")
            out.append((start, keyword.upper(), rest.strip()))
    if pending:
        raise SystemExit(f"{path}: the file ends inside a line continuation")
    return out


def stages(items):
    """The instructions split at each FROM: [(image, name or None, [(line, keyword, args)])]."""
    result = []
    for line, keyword, args in items:
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            result.append((parts[0], name, []))
        elif not result:
            if keyword != "ARG":
                raise SystemExit(f"line {line}: {keyword} before the first FROM")
        else:
            result[-1][2].append((line, keyword, args))
    return result


def sdk_major():
    with open(os.path.join(REPO, "global.json"), encoding="utf-8") as f:
        return json.load(f)["sdk"]["version"].split(".")[0]


def lint(path):
    """[(rule, problem or None)] for one Dockerfile."""
    items = instructions(path)
    all_stages = stages(items)
    results = []

    def rule(name, problems):
        results.append((name, "; ".join(problems) if problems else None))

    rule("every instruction is a Dockerfile keyword", [
        f"line {n}: {k}" for n, k, _ in items
        if k not in {"FROM", "RUN", "COPY", "WORKDIR", "ENV", "EXPOSE", "USER", "ENTRYPOINT", "CMD", "ARG", "LABEL",
                     "HEALTHCHECK", "VOLUME", "STOPSIGNAL", "SHELL"}])
    rule("every base image names a tag other than latest", [
        image for image, _, _ in all_stages
        if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"))])
    names = [name for _, name, _ in all_stages if name]
    rule("stage names are unique", [n for n in set(names) if names.count(n) > 1])
    rule("COPY --from names an earlier stage", [
        f"line {n}: {args}" for index, (_, _, body) in enumerate(all_stages) for n, k, args in body
        if k == "COPY" and (m := re.match(r"--from=(\S+)", args)) and m.group(1) not in names[:index]])
    rule("ADD is not used (COPY says what it does)", [f"line {n}" for n, k, _ in items if k == "ADD"])
    runs = [(n, args) for n, k, args in items if k == "RUN"]
    rule("apt-get install answers yes and skips recommended packages", [
        f"line {n}" for n, args in runs
        if "apt-get install" in args and not ("-y" in args.split() and "--no-install-recommends" in args)])
    rule("apt-get lists are removed in the RUN that fetched them", [
        f"line {n}" for n, args in runs if "apt-get update" in args and "rm -rf /var/lib/apt/lists" not in args])
    rule("no sudo, no cd in RUN (WORKDIR says where)", [
        f"line {n}" for n, args in runs if re.search(r"(^|[;&|]\s*)(sudo|cd)\s", args)])
    rule("WORKDIR paths are absolute", [f"line {n}" for n, k, a in items if k == "WORKDIR" and not a.startswith("/")])
    rule("EXPOSE names port numbers", [
        f"line {n}: {a}" for n, k, a in items if k == "EXPOSE" and not all(re.fullmatch(r"\d+(/tcp|/udp)?", p) for p in a.split())])

    image, _, final = all_stages[-1]
    users = [(n, a) for n, k, a in final if k == "USER"]
    last_run = max((n for n, k, _ in final if k == "RUN"), default=0)
    user_problems = []
    if not users:
        user_problems.append("the final stage sets no USER")
    else:
        n, user = users[-1]
        uid = user.split(":")[0]
        if not uid.isdigit() or uid == "0":
            user_problems.append(f"line {n}: USER {user} (a numeric uid other than 0 lets runAsNonRoot verify it)")
        if n < last_run:
            user_problems.append(f"line {n}: a RUN after USER runs as that user, or the USER was meant last")
    rule("the final stage runs as a numeric non-root user, set after its last RUN", user_problems)
    entry = [(n, a) for n, k, a in final if k in ("ENTRYPOINT", "CMD")]
    rule("ENTRYPOINT is in exec (JSON) form", [
        f"line {n}" for n, a in entry if not (a.startswith("[") and isinstance(json.loads(a), list))] if entry
        else ["the final stage has no ENTRYPOINT"])

    build = [body for _, name, body in all_stages if name == "build"]
    build_images = [img for img, name, _ in all_stages if name == "build"]
    major = sdk_major()
    rule(f"the build stage is the .NET {major} SDK (global.json) and publishes the NativeAOT binary", (
        ["no stage is named build"] if not build else
        [f"the build image {img} is not dotnet/sdk:{major}.x" for img in build_images
         if not re.search(rf"/dotnet/sdk:{major}\.\d", img)] +
        ([] if any(k == "RUN" and a == PUBLISH for _, k, a in build[0]) else [f"no RUN {PUBLISH}"])))
    copies = [a for _, k, a in final if k == "COPY" and a.startswith("--from=build ")]
    sources = [a.split()[1] for a in copies]
    rule("the final stage takes the binary and its SQLite library from the build", [
        f"{s} is not copied" for s in ("/out/archestra", "/out/libe_sqlite3.so") if s not in sources])
    return results


def plan(path):
    _, _, final = stages(instructions(path))[-1]
    result = {"copies": [], "workdir": "/", "env": {}, "user": None, "entrypoint": None, "expose": []}
    for _, keyword, args in final:
        if keyword == "COPY" and args.startswith("--from=build "):
            _, source, dest = args.split()
            result["copies"].append([source, dest])
        elif keyword == "WORKDIR":
            result["workdir"] = args
        elif keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                result["env"][key] = value
        elif keyword == "USER":
            result["user"] = args
        elif keyword == "ENTRYPOINT":
            result["entrypoint"] = json.loads(args)
        elif keyword == "EXPOSE":
            result["expose"] += [int(p.split("/")[0]) for p in args.split()]
    return result


def main(argv):
    if argv[:1] == ["--plan"]:
        print(json.dumps(plan(argv[1])))
        return 0
    failed = 0
    for path in argv:
        for name, problem in lint(path):
            label = f"{os.path.relpath(path, REPO)}: {name}"
            if problem:
                failed += 1
                print(f"  FAIL {label}: {problem}")
            else:
                print(f"  ok   {label}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
