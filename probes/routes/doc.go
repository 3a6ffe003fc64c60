// Package routes holds an HTTP API's routes as data, so that a wire client and the simulator of
// the same API build and match exactly the same paths. It must not know any particular API.
package routes
