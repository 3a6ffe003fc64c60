// Package server is deepprobe's HTTP layer (Echo): /healthz and /readyz answer from the deep
// probe, /livez from the shallow check, /metrics from Prometheus, / (the status page) and
// /history from the history of finished workloads. It turns outcomes into status codes and
// bodies, bounds every caller's wait and every connection, and logs and counts requests with
// bounded labels. It is the only package that imports Echo; it must not call Garden or
// Baggageclaim itself.
package server
