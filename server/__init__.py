"""The vecdb gRPC server: protobuf <-> library types, API keys, health, reflection and metrics; no
database logic (every RPC calls the public vecdb API).

- `main`: `create_server(db, address) -> (server, port)`, `serve()` (`vecdb serve`), `main()` (containers)
- `servicer` / `qa_servicer`: the VecDB and QAMemory services, and `rpc`, the one place errors become statuses
- `convert`: pure to_proto_* / from_proto_* functions, shared with the client (`vecdb.client`)
- `auth`: keys.json, and what an admin or tenant-scoped key may touch
- `metrics`: Prometheus counters and latency histograms per RPC
- `gen_proto`: regenerates `vecdb/_proto` from `proto/` (`python -m server.gen_proto`)
- `testing`: a server on a free loopback port, for tests
"""
