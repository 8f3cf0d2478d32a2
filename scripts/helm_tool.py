#!/usr/bin/env python3
"""The real Helm v4 engine (PyPI helm-python-sdk) for the chart tests, as a tiny CLI.

  helm_tool.py lint CHART [VALUES_JSON]     lint --strict; prints the report as JSON
  helm_tool.py render CHART [VALUES_JSON]   validates values, renders; prints
                                            [{"template": path, "object": {...}}, ...] as JSON
  helm_tool.py notes CHART [VALUES_JSON]    prints the rendered NOTES.txt
  helm_tool.py install CHART [VALUES_JSON]  installs release wasm-operator into wasm-system of the
                                            cluster of KUBECONFIG (creating the namespace), waits
  helm_tool.py upgrade CHART [VALUES_JSON]  upgrades that release, waits for the rollout
  helm_tool.py uninstall CHART              removes that release and waits
  helm_tool.py package CHART DIR            writes DIR/<name>-<version>.tgz; prints its path

Exit 2 with the engine's message on stderr when Helm refuses the values or the chart.
"""
import json
import sys

import helm_python as helm
import yaml


def values_arg(argv):
    return json.loads(argv[3]) if len(argv) > 3 else None


def main(argv):
    if len(argv) < 3 or argv[1] not in ("lint", "render", "notes", "install", "upgrade", "uninstall", "package"):
        print(__doc__, file=sys.stderr)
        return 64
    if argv[1] == "package":
        try:
            print(helm.package(argv[2], destination=argv[3] if len(argv) > 3 else "."))
        except helm.HelmError as e:
            print(f"helm: {e}", file=sys.stderr)
            return 2
        return 0
    command, chart_dir, values = argv[1], argv[2], values_arg(argv)
    if command in ("install", "upgrade", "uninstall"):
        return release(command, chart_dir, values)
    try:
        if command == "lint":
            print(json.dumps(helm.lint(chart_dir, values, strict=True, namespace="wasm-system")))
            return 0
        chart = helm.Chart.load(chart_dir)
        chart.validate_schema(values)
        rendered = chart.render(values, name="wasm-operator", namespace="wasm-system", is_install=True)
    except helm.HelmError as e:
        print(f"helm: {e}", file=sys.stderr)
        return 2
    if command == "notes":
        notes = [text for path, text in rendered.items() if path.endswith("NOTES.txt")]
        print(notes[0] if notes else "")
        return 0
    out = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append({"template": path, "object": doc})
    print(json.dumps(out))
    return 0


def release(command, chart_dir, values):
    """Install, upgrade or uninstall release wasm-operator in wasm-system, as a user would."""
    config = helm.Config(namespace="wasm-system")
    try:
        if command == "install":
            config.install(chart_dir, "wasm-operator", values, namespace="wasm-system",
                           create_namespace=True, wait="watcher", timeout=300)
        elif command == "upgrade":
            config.upgrade(chart_dir, "wasm-operator", values, namespace="wasm-system",
                           wait="watcher", timeout=300)
        else:
            config.uninstall("wasm-operator", wait="watcher", timeout=300, ignore_not_found=True)
    except helm.HelmError as e:
        print(f"helm: {e}", file=sys.stderr)
        return 2
    # The engine raises on failure; a return means the release is done (and waited for).
    print(json.dumps({"command": command, "release": "wasm-operator", "namespace": "wasm-system", "ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
