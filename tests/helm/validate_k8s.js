#!/usr/bin/env node
// Validates rendered Kubernetes objects against the Kubernetes OpenAPI schemas, offline:
// the JSON-schema validators of the npm packages kubernetes-models (core, apps, policy,
// autoscaling, networking), @kubernetes-models/cert-manager (Certificate) and
// @kubernetes-models/prometheus-operator (ServiceMonitor, PrometheusRule), installed by
// helm_chart_test.sh into a cache directory (no cluster, no network at run time).
//
//   node validate_k8s.js MODULES_DIR < objects.json > report.json
//
// stdin: a JSON array of objects. stdout: a JSON array, one entry per object:
// {kind, name, errors: [...]}; errors empty = valid. Besides the schemas' own checks
// (types, required fields, enums, formats such as quantities), unknown fields are errors,
// as a server's strict field validation (kubectl --validate=strict) makes them: the
// Kubernetes schemas do not forbid extra properties, so every object is wrapped in a
// Proxy that records which properties the validator looked up; a property it never
// looked up in an object whose other properties it checked one by one is not in the
// schema. (Objects the validator iterates, such as label maps, are maps: any key goes.)
"use strict";
const path = require("path");
const fs = require("fs");

const modules = process.argv[2];
if (!modules) {
  console.error("usage: validate_k8s.js MODULES_DIR < objects.json");
  process.exit(2);
}
const load = (p) => require(path.join(modules, p));

// apiVersion -> module exporting the kinds of that group/version.
const GROUPS = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "autoscaling/v2": "kubernetes-models/autoscaling/v2",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "cert-manager.io/v1": "@kubernetes-models/cert-manager/cert-manager.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

function track(value, where, seen) {
  if (value === null || typeof value !== "object") return value;
  const info = { where, keys: Array.isArray(value) ? [] : Object.keys(value), read: new Set(), iterated: false };
  if (!Array.isArray(value)) seen.push(info);
  const copy = Array.isArray(value)
    ? value.map((v, i) => track(v, `${where}/${i}`, seen))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v, `${where}/${k}`, seen)]));
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") info.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") info.read.add(key);
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === "string") info.read.add(key);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      info.iterated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function validate(obj) {
  const kind = obj && obj.kind;
  const name = (obj && obj.metadata && obj.metadata.name) || "";
  const mod = GROUPS[obj && obj.apiVersion];
  if (!mod) return { kind, name, errors: [`no schema for apiVersion ${obj && obj.apiVersion}`] };
  const Model = load(mod)[kind];
  if (!Model) return { kind, name, errors: [`no schema for ${obj.apiVersion} ${kind}`] };
  const errors = [];
  // The schemas' own checks, on a plain copy.
  try {
    new Model(JSON.parse(JSON.stringify(obj))).validate();
  } catch (e) {
    errors.push(...String(e.message).split(", ").map((m) => m.replace(/^data/, "")));
  }
  // Unknown fields: the model's validator run over a recording copy.
  const seen = [];
  const model = new Model({});
  const tracked = track(JSON.parse(JSON.stringify(obj)), "", seen);
  try {
    model.validate.call(tracked);
  } catch (e) {
    /* reported above */
  }
  for (const info of seen) {
    if (info.where === "" || info.iterated || info.read.size === 0) continue;
    for (const key of info.keys) {
      if (!info.read.has(key)) errors.push(`${info.where}/${key}: unknown field (not in the ${obj.apiVersion} ${kind} schema)`);
    }
  }
  // The top level: only what every object has.
  const known = new Set(["apiVersion", "kind", "metadata", "spec", "data", "stringData", "type", "immutable", "binaryData"]);
  for (const key of Object.keys(obj)) if (!known.has(key)) errors.push(`/${key}: unknown top-level field`);
  return { kind, name, errors };
}

const input = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(input.map(validate)));
