#!/usr/bin/env python3
"""Trims etcd v3.4.23's API .proto files to the messages swift-tooz's etcd client sends and reads.

Reads rpc.proto and kv.proto as they are in etcd's repository (paths given as arguments) and
writes them under OUT_DIR with the same import paths, without the gogoproto and google.api
annotations (options that only shape Go code and the JSON gateway), without the service
definitions (our own gRPC client names each method's path), and without the messages we never
use. Field numbers and types are etcd's, untouched: the wire format depends on nothing else.

    trim.py RPC_PROTO KV_PROTO OUT_DIR
"""
import re
import sys

KEEP = {
    "ResponseHeader", "RangeRequest", "RangeResponse", "PutRequest", "PutResponse",
    "DeleteRangeRequest", "DeleteRangeResponse", "RequestOp", "ResponseOp", "Compare",
    "TxnRequest", "TxnResponse", "CompactionRequest", "CompactionResponse",
    "WatchRequest", "WatchCreateRequest", "WatchCancelRequest", "WatchProgressRequest", "WatchResponse",
    "LeaseGrantRequest", "LeaseGrantResponse", "LeaseRevokeRequest", "LeaseRevokeResponse",
    "LeaseKeepAliveRequest", "LeaseKeepAliveResponse", "LeaseTimeToLiveRequest", "LeaseTimeToLiveResponse",
    "StatusRequest", "StatusResponse", "AuthenticateRequest", "AuthenticateResponse",
}


def strip_annotations(text):
    text = re.sub(r'^import "(gogoproto|google/api)/[^"]*";\n', "", text, flags=re.M)
    # etcd's own import paths start with "etcd/" (its Go module root): ours are relative.
    text = re.sub(r'^import "(etcd/)?auth/authpb/auth.proto";\n', "", text, flags=re.M)
    text = re.sub(r'^import "(etcd/)?mvcc/mvccpb/kv.proto";', 'import "mvcc/mvccpb/kv.proto";', text, flags=re.M)
    text = re.sub(r"^option \(gogoproto\.[^;]*;\n", "", text, flags=re.M)
    text = re.sub(r"^// for grpc-gateway\n", "", text, flags=re.M)
    # Field options such as [(gogoproto.nullable) = false, (gogoproto.customname) = "ID"].
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    return text


def blocks(text):
    """Yields (kind, name, start, end) for each top-level message/service/enum block."""
    for match in re.finditer(r"^(message|service|enum)\s+(\w+)\s*\{", text, flags=re.M):
        depth = 0
        for index in range(match.end() - 1, len(text)):
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    yield match.group(1), match.group(2), match.start(), index + 1
                    break


def trim_rpc(text):
    text = strip_annotations(text)
    out, position = [], 0
    for kind, name, start, end in list(blocks(text)):
        # The comment lines right before a dropped block go with it.
        head = text[position:start]
        if kind == "service" or (kind == "message" and name not in KEEP):
            head = re.sub(r"(\n//[^\n]*)+\n?$", "\n", head)
            out.append(head)
        else:
            out.append(head + text[start:end])
        position = end
    out.append(text[position:])
    return re.sub(r"\n{3,}", "\n\n", "".join(out))


def main():
    rpc_path, kv_path, out_dir = sys.argv[1:4]
    with open(rpc_path) as f:
        rpc = trim_rpc(f.read())
    with open(kv_path) as f:
        kv = strip_annotations(f.read())
    header = "// etcd v3.4.23's {}, trimmed by scripts/etcd-protos/trim.py: see scripts/generate-etcd-protos.\n"
    with open(f"{out_dir}/etcdserver/etcdserverpb/rpc.proto", "w") as f:
        f.write(header.format("etcdserver/etcdserverpb/rpc.proto") + rpc)
    with open(f"{out_dir}/mvcc/mvccpb/kv.proto", "w") as f:
        f.write(header.format("mvcc/mvccpb/kv.proto") + kv)


if __name__ == "__main__":
    main()
