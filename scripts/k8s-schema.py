#!/usr/bin/env python3
"""Writes data/kubernetes/builtin-kinds.json: the compact schema of the built-in Kubernetes kinds
that celgate uses to judge a document as the API server would send it to a webhook (src/engine/
builtin/). Its input is the Kubernetes OpenAPI `_definitions.json` that the PyPI package
`kubernetes-validate` ships (Apache-2.0); the output keeps, for every definition, only the type of
each field and which fields are required: no descriptions, no validation details.

    python3 -m venv /tmp/k8s-venv
    /tmp/k8s-venv/bin/pip install kubernetes-validate==1.37.0
    /tmp/k8s-venv/bin/python scripts/k8s-schema.py > data/kubernetes/builtin-kinds.json

The compact type of a field is a string:
    string | integer | number | boolean     the JSON scalar
    byte | date-time                         a string (base64 bytes, an RFC 3339 time)
    int-or-string | quantity                 Kubernetes' IntOrString and resource.Quantity
    object                                   an object with no declared fields (RawExtension,
                                             FieldsV1, an empty struct)
    any                                      any JSON value (apiextensions' JSON)
    []T                                      a list of T
    {}T                                      a map from string to T (additionalProperties)
    NAME                                     a struct: the definition NAME in `definitions`
"""

import json
import os
import sys

VERSION = "1.37.0"
PACKAGE = "kubernetes-validate==1.37.0"

# Long definition-name prefixes, shortened (the result must stay unique; checked below).
PREFIXES = [
    ("io.k8s.api.", ""),
    ("io.k8s.apimachinery.pkg.apis.meta.", "meta."),
    ("io.k8s.apiextensions-apiserver.pkg.apis.", ""),
    ("io.k8s.kube-aggregator.pkg.apis.", ""),
    ("io.k8s.apimachinery.pkg.", ""),
]

# Definitions that are scalars (or free-form) in JSON, by name.
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "int-or-string",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "quantity",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": "any",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "any",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "any",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "any",
}


def definitions_path():
    import kubernetes_validate  # noqa: PLC0415 (only needed here)

    base = os.path.dirname(kubernetes_validate.__file__)
    return os.path.join(base, "kubernetes-json-schema", f"v{VERSION}-local", "_definitions.json")


def short(name):
    for prefix, replacement in PREFIXES:
        if name.startswith(prefix):
            return replacement + name[len(prefix):]
    return name


def json_type(schema):
    """The non-null JSON type of a schema (`["string", "null"]` -> `string`), or None."""
    t = schema.get("type")
    if isinstance(t, list):
        t = [x for x in t if x != "null"]
        if len(t) != 1:
            raise ValueError(f"unexpected type list {schema.get('type')}")
        t = t[0]
    return t


def scalar_definition(definition):
    """The compact type of a definition that has no fields, or None for a struct."""
    if "properties" in definition:
        return None
    t = json_type(definition)
    if t == "string":
        return "date-time" if definition.get("format") == "date-time" else "string"
    if t == "object" and "additionalProperties" not in definition:
        return "object"
    raise ValueError(f"unexpected definition shape: {sorted(definition)}")


def compact(schema, defs):
    """The compact type of a field's schema."""
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        if name in SPECIAL:
            return SPECIAL[name]
        return scalar_definition(defs[name]) or short(name)
    if "oneOf" in schema or "anyOf" in schema:
        raise ValueError(f"unexpected inline oneOf: {schema}")
    t = json_type(schema)
    if t is None:
        return "any"
    if t == "array":
        return "[]" + compact(schema["items"], defs)
    if t == "object":
        if "properties" in schema:
            raise ValueError("unexpected inline struct")
        if "additionalProperties" in schema:
            return "{}" + compact(schema["additionalProperties"], defs)
        return "object"
    if t == "string":
        fmt = schema.get("format")
        return fmt if fmt in ("byte", "date-time") else "string"
    if t in ("integer", "number", "boolean"):
        return t
    raise ValueError(f"unexpected type {t}")


def main():
    with open(definitions_path(), encoding="utf-8") as f:
        defs = json.load(f)["$defs"]
    definitions = {}
    kinds = {}
    seen = {}
    for name in sorted(defs):
        definition = defs[name]
        if name in SPECIAL or scalar_definition(definition) is not None:
            continue
        key = short(name)
        if key in seen:
            raise ValueError(f"{name} and {seen[key]} shorten to the same {key}")
        seen[key] = name
        properties = {
            field: compact(schema, defs) for field, schema in sorted(definition["properties"].items())
        }
        entry = {"properties": properties}
        required = sorted(definition.get("required", []))
        if required:
            entry["required"] = required
        definitions[key] = entry
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            kinds[f"{api_version}/{gvk['kind']}"] = key
    # Every struct a field names must be defined.
    for entry in definitions.values():
        for t in entry["properties"].values():
            base = t.lstrip("[]{}")
            if "." in base and base not in definitions:
                raise ValueError(f"undefined {base}")
    out = {
        "source": f"Kubernetes v{VERSION} OpenAPI definitions, from the PyPI package {PACKAGE} "
        "(kubernetes-json-schema/v" + VERSION + "-local/_definitions.json); Apache-2.0; "
        "generated by scripts/k8s-schema.py",
        "kinds": dict(sorted(kinds.items())),
        "definitions": definitions,
    }
    # One kind or definition a line, so that a regenerated file diffs well.
    w = sys.stdout.write
    w("{\n" + f'"source":{json.dumps(out["source"])},\n"kinds":{{\n')
    w(",\n".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in out["kinds"].items()))
    w('\n},\n"definitions":{\n')
    w(",\n".join(f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in definitions.items()))
    w("\n}\n}\n")


if __name__ == "__main__":
    main()
