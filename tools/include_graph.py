#!/usr/bin/env python3
"""Prints the include graph of the proxy's data path and fails if it has a cycle.

    tools/include_graph.py [FOLDER...]      (default: proxy/datapath)

A unit is a file name without its extension (worker.h + worker.cc = "worker"); the parts of one
class that live in several files are one unit (GROUPS below). An edge A -> B means a file of A
includes a header of B. Edges to other folders are listed per unit as "uses". Exit status 1 when
the graph of units has a cycle (printed).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One class split over several files: ClientSession and the state objects it owns, which call
# back into it (the session is their owner, not a peer).
GROUPS = {
    "session_commands": "client_session",
    "transaction": "client_session",
    "pubsub_session": "client_session",
    "fanout_merge": "fanout",
    "fanout_internal": "fanout",
}
INCLUDE = re.compile(r'^#include "([^"]+)"', re.M)


def unit_of(path):
    name = os.path.splitext(os.path.basename(path))[0]
    return GROUPS.get(name, name)


def main(folders):
    edges, uses = {}, {}
    for folder in folders:
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if not name.endswith((".h", ".cc")):
                continue
            rel = os.path.join(folder, name)
            unit = unit_of(rel)
            edges.setdefault(unit, set())
            with open(os.path.join(ROOT, rel)) as f:
                for inc in INCLUDE.findall(f.read()):
                    if os.path.dirname(inc) in folders:
                        if unit_of(inc) != unit:
                            edges[unit].add(unit_of(inc))
                    else:
                        uses.setdefault(unit, set()).add(os.path.dirname(inc))
    for unit in sorted(edges):
        deps = ", ".join(sorted(edges[unit])) or "-"
        print(f"{unit:18} -> {deps}")
        print(f"{'':18}    uses: {', '.join(sorted(uses.get(unit, ())))}")
    # cycle check (DFS)
    state, stack = {}, []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                print("cycle: " + " -> ".join(stack[stack.index(v):] + [v]))
                return False
            if state.get(v) is None and not visit(v):
                return False
        stack.pop()
        state[u] = 2
        return True

    for u in sorted(edges):
        if state.get(u) is None and not visit(u):
            return 1
    print("no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["proxy/datapath"]))
