// Package wire is the one request, decode and error path of the Garden and Baggageclaim
// clients: it builds each request from a route table, escapes handles once, never follows a
// redirect, reads answers bounded, turns every non-2xx answer into an *Error that matches each
// API's sentinels (API.Match), and reads Garden's hijacked process streams. Each API gives it
// only what differs: its error body and which answers mean what.
package wire
