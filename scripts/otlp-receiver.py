#!/usr/bin/env python3
"""A minimal OTLP/HTTP receiver for scripts/aot-smoke.sh.

    otlp-receiver.py PORT OUT.jsonl    decode POST /v1/traces and /v1/metrics (application/x-protobuf) and append
                                       one JSON line per span ({"service", "name", "kind", "trace_id", "span_id",
                                       "parent_span_id", "attributes", "events"}) and per metric ({"metric": name})
    otlp-receiver.py --silent PORT     accept connections, read, never answer (a collector that hangs)
    otlp-receiver.py --sink PORT       answer every export at once without decoding it (a fast collector, for load runs)

The protobuf decoding follows opentelemetry-proto (collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
metrics/v1/metrics.proto, common/v1/common.proto): only the fields the smoke test asserts on are read.
"""
import http.server
import json
import socket
import struct
import sys
import threading


def fields(buf):
    """Yields (field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            length, i = varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def any_value(buf):
    for number, wire, value in fields(buf):
        if number == 1:
            return value.decode()
        if number == 2:
            return bool(value)
        if number == 3:
            return value - (1 << 64) if value >= 1 << 63 else value
        if number == 4:
            return struct.unpack("<d", value)[0]
        if number == 5:  # ArrayValue { repeated AnyValue values = 1; }
            return [any_value(v) for n, _, v in fields(value) if n == 1]
    return None


def key_values(buf_list):
    out = {}
    for kv in buf_list:
        key = value = None
        for number, _, v in fields(kv):
            if number == 1:
                key = v.decode()
            elif number == 2:
                value = any_value(v)
        out[key] = value
    return out


def resource_service(resource):
    attrs = key_values([v for n, _, v in fields(resource) if n == 1])
    return attrs


def decode_traces(body):
    for n, _, resource_spans in fields(body):
        if n != 1:
            continue
        resource = {}
        for m, _, part in fields(resource_spans):
            if m == 1:
                resource = resource_service(part)
            elif m == 2:  # ScopeSpans
                for k, _, span in fields(part):
                    if k != 2:
                        continue
                    record = {"service": resource.get("service.name"), "resource": resource, "attributes": {}, "events": []}
                    attributes = []
                    for f, _, v in fields(span):
                        if f == 1:
                            record["trace_id"] = v.hex()
                        elif f == 2:
                            record["span_id"] = v.hex()
                        elif f == 4:
                            record["parent_span_id"] = v.hex()
                        elif f == 5:
                            record["name"] = v.decode()
                        elif f == 6:
                            record["kind"] = v
                        elif f == 9:
                            attributes.append(v)
                        elif f == 11:  # Event { name = 2; attributes = 3 }
                            event = {"name": None, "attributes": []}
                            for e, _, ev in fields(v):
                                if e == 2:
                                    event["name"] = ev.decode()
                                elif e == 3:
                                    event["attributes"].append(ev)
                            event["attributes"] = key_values(event["attributes"])
                            record["events"].append(event)
                    record["attributes"] = key_values(attributes)
                    yield record


def decode_metrics(body):
    for n, _, resource_metrics in fields(body):
        if n != 1:
            continue
        for m, _, scope_metrics in fields(resource_metrics):
            if m != 2:
                continue
            for k, _, metric in fields(scope_metrics):
                if k == 2:
                    for f, _, v in fields(metric):
                        if f == 1:
                            yield {"metric": v.decode()}


def serve(port, out):
    """out None: a sink that answers without decoding."""
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            decode = decode_traces if self.path == "/v1/traces" else decode_metrics if self.path == "/v1/metrics" else None
            if decode is None or self.headers.get("Content-Type") != "application/x-protobuf":
                self.send_response(404)
                self.end_headers()
                return
            if out is not None:
                with lock, open(out, "a") as f:
                    for record in decode(body):
                        f.write(json.dumps(record) + "\n")
            # ExportTraceServiceResponse / ExportMetricsServiceResponse with no partial_success: an empty message.
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def silent(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)
    held = []
    while True:
        conn, _ = server.accept()
        held.append(conn)  # read nothing back, answer nothing, never close


if __name__ == "__main__":
    if sys.argv[1] == "--silent":
        silent(int(sys.argv[2]))
    elif sys.argv[1] == "--sink":
        serve(int(sys.argv[2]), None)
    else:
        serve(int(sys.argv[1]), sys.argv[2])
