// Package ajp is an AJP13 client: the packet codec, a connection pool with
// CPING/CPONG, and an http.RoundTripper, so ajp://host:port members (Tomcat,
// WildFly and JBoss connectors) plug into an httputil.ReverseProxy like
// http:// ones. It imports only the standard library.
//
// # The protocol
//
// AJP13 is a packet protocol over a persistent TCP connection, one request
// at a time. Packets from the web server start with 0x12 0x34, those from
// the container with "AB"; then come a two-byte length and the payload,
// whose first byte is the message type. A request goes like this:
//
//	web server                                 container
//	FORWARD_REQUEST (method, URI, client address,
//	  host, port, TLS, headers, attributes) ->
//	first body chunk, when Content-Length > 0 ->
//	                                        <- GET_BODY_CHUNK (want n bytes)
//	body chunk (an empty one ends the body) ->
//	                                        <- SEND_HEADERS (status, headers)
//	                                        <- SEND_BODY_CHUNK ... (an empty one asks to flush)
//	                                        <- END_RESPONSE (reuse the connection?)
//
// CPING (0x0A) answered by CPONG (0x09) checks that the container is alive
// and answering, before a request or as a health check.
//
// The reference is Tomcat's "AJPv13" connector document and its
// AjpProcessor; httpd's mod_proxy_ajp is the client this package behaves
// like (client address, port, host and TLS details travel in the forward
// request; the secret attribute authenticates the web server).
package ajp
