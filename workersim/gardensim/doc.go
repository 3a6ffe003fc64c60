// Package gardensim provides a Garden API simulator for tests and demos, shaped like
// httptest.Server. It answers like the recorded reference server (houdini backend): status
// codes, error bodies, property filters, and a grace-time reaper that, like Concourse's
// runtimes, is armed only by PUT /containers/:handle/grace_time. Faults can be injected per
// route. It keeps containers in memory and runs nothing.
package gardensim
