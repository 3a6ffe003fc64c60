// Package server is deepprobe's HTTP layer (Echo): /healthz and /readyz answer from the deep
// probe, /livez from the shallow check, /metrics from Prometheus, / (the status page) and
// /history from the history of finished workloads. It turns outcomes into status codes and
// bodies, bounds every caller's wait and every connection, and logs and counts requests with
// bounded labels. It is the only package that imports Echo; it must not call Garden or
// Baggageclaim itself, and it owns no timing default of the probes: it is given the resolved
// values (probes.Timing, probes.ShallowConfig).
//
// Files, by concern:
//   - server.go: Config, the Deep and Shallow interfaces it consumes, New (wiring), Listen,
//     Serve and Shutdown.
//   - routes.go: the paths, which routes need the token, and the route table.
//   - limiter.go: the http.Server's limits and the connection limiter (fair shares of
//     --max-connections).
//   - query.go: ?timeout and ?verbose, and the pages that take no query.
//   - healthz.go: the /healthz, /readyz and /livez handlers and how they answer.
//   - encode.go: the encoding cache of the hot path (one JSON encoding per outcome).
//   - response.go: the JSON body shapes (Health, StageBody, ComponentHealth), built from
//     outcomes, and their ?verbose text (escaped).
//   - fleet.go: the fleet budget's hold on a deep failure.
//   - ping.go: /ping, deepprobe's own liveness.
//   - status.go, status.html: the status page and /history.
//   - auth.go: the bearer token.
//   - errors.go: every error as a JSON body.
//   - observe.go: the HTTP metrics and the request log.
package server
