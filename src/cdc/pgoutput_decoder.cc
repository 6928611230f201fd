#include "cdc/pgoutput_decoder.h"

#include <cstring>

#include <fmt/format.h>

namespace diskinv {

const char* PgoutputTypeName(PgoutputType t) {
  switch (t) {
    case PgoutputType::kBegin: return "Begin";
    case PgoutputType::kCommit: return "Commit";
    case PgoutputType::kOrigin: return "Origin";
    case PgoutputType::kRelation: return "Relation";
    case PgoutputType::kType: return "Type";
    case PgoutputType::kInsert: return "Insert";
    case PgoutputType::kUpdate: return "Update";
    case PgoutputType::kDelete: return "Delete";
    case PgoutputType::kTruncate: return "Truncate";
    case PgoutputType::kMessage: return "Message";
    case PgoutputType::kStreamStart: return "Stream Start";
    case PgoutputType::kStreamStop: return "Stream Stop";
    case PgoutputType::kStreamCommit: return "Stream Commit";
    case PgoutputType::kStreamAbort: return "Stream Abort";
    case PgoutputType::kBeginPrepare: return "Begin Prepare";
    case PgoutputType::kPrepare: return "Prepare";
    case PgoutputType::kCommitPrepared: return "Commit Prepared";
    case PgoutputType::kRollbackPrepared: return "Rollback Prepared";
    case PgoutputType::kStreamPrepare: return "Stream Prepare";
  }
  return "?";
}

namespace {

// Big-endian reader over one message; the first failure sticks and names the field.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }

  uint8_t U8(const char* what) {
    if (!Need(1, what)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint16_t U16(const char* what) {
    if (!Need(2, what)) return 0;
    uint16_t v = static_cast<uint16_t>((Byte(0) << 8) | Byte(1));
    pos_ += 2;
    return v;
  }
  uint32_t U32(const char* what) {
    if (!Need(4, what)) return 0;
    uint32_t v = (Byte(0) << 24) | (Byte(1) << 16) | (Byte(2) << 8) | Byte(3);
    pos_ += 4;
    return v;
  }
  uint64_t U64(const char* what) {
    uint64_t hi = U32(what);
    uint64_t lo = U32(what);
    return (hi << 32) | lo;
  }
  int64_t I64(const char* what) { return static_cast<int64_t>(U64(what)); }
  std::string_view String(const char* what) {
    if (!ok()) return {};
    const void* nul = std::memchr(in_.data() + pos_, '\0', remaining());
    if (nul == nullptr) {
      Fail(fmt::format("{} at offset {} has no terminating NUL", what, pos_));
      return {};
    }
    size_t len = static_cast<const char*>(nul) - (in_.data() + pos_);
    std::string_view s = in_.substr(pos_, len);
    pos_ += len + 1;
    return s;
  }
  std::string_view Bytes(size_t n, const char* what) {
    if (!Need(n, what)) return {};
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void Fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
  }

 private:
  uint32_t Byte(size_t i) const { return static_cast<uint8_t>(in_[pos_ + i]); }
  bool Need(size_t n, const char* what) {
    if (!ok()) return false;
    if (remaining() < n) {
      Fail(fmt::format("truncated: {} needs {} bytes at offset {}, {} left", what, n, pos_,
                       remaining()));
      return false;
    }
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

void ReadTuple(Reader& r, std::vector<TupleColumn>* out) {
  out->clear();
  uint16_t n = r.U16("TupleData column count");
  if (!r.ok()) return;
  if (n > kMaxPgColumns) {
    r.Fail(fmt::format("TupleData has {} columns, more than PostgreSQL allows ({})", n,
                       kMaxPgColumns));
    return;
  }
  // Every column needs at least its kind byte: reject impossible counts before reserving.
  if (n > r.remaining()) {
    r.Fail(fmt::format("truncated: TupleData announces {} columns with {} bytes left", n,
                       r.remaining()));
    return;
  }
  out->resize(n);
  for (uint16_t i = 0; i < n && r.ok(); ++i) {
    TupleColumn& c = (*out)[i];
    uint8_t kind = r.U8("TupleData column kind");
    switch (kind) {
      case 'n':
        c = {TupleKind::kNull, {}};
        break;
      case 'u':
        c = {TupleKind::kUnchangedToast, {}};
        break;
      case 't':
      case 'b': {
        uint32_t len = r.U32("TupleData value length");
        if (len > 0x7fffffffu) {
          r.Fail(fmt::format("TupleData column {} has a negative length", i));
          break;
        }
        c = {kind == 't' ? TupleKind::kText : TupleKind::kBinary, r.Bytes(len, "TupleData value")};
        break;
      }
      default:
        if (r.ok()) {
          r.Fail(fmt::format("TupleData column {} has unknown kind 0x{:02x} at offset {}", i, kind,
                             r.pos() - 1));
        }
    }
  }
}

int MinProto(PgoutputType t) {
  switch (t) {
    case PgoutputType::kStreamStart:
    case PgoutputType::kStreamStop:
    case PgoutputType::kStreamCommit:
    case PgoutputType::kStreamAbort:
      return 2;
    case PgoutputType::kBeginPrepare:
    case PgoutputType::kPrepare:
    case PgoutputType::kCommitPrepared:
    case PgoutputType::kRollbackPrepared:
    case PgoutputType::kStreamPrepare:
      return 3;
    default:
      return 1;
  }
}

bool KnownType(uint8_t tag) {
  switch (tag) {
    case 'B': case 'C': case 'O': case 'R': case 'Y': case 'I': case 'U': case 'D': case 'T':
    case 'M': case 'S': case 'E': case 'c': case 'A': case 'b': case 'P': case 'K': case 'r':
    case 'p':
      return true;
    default:
      return false;
  }
}

}  // namespace

Status DecodePgoutput(std::string_view in, const PgoutputDecodeOptions& opt, PgoutputMessage* m) {
  if (in.empty()) return Status::Invalid("pgoutput: empty message");
  Reader r(in);
  uint8_t tag = r.U8("tag");
  if (!KnownType(tag)) {
    return Status::Invalid(fmt::format("pgoutput: unknown message type 0x{:02x} ('{}') in a {}-byte "
                                       "message", tag, tag >= 0x20 && tag < 0x7f ? char(tag) : '?',
                                       in.size()));
  }
  PgoutputType type = static_cast<PgoutputType>(tag);
  const char* name = PgoutputTypeName(type);
  if (MinProto(type) > opt.proto_version) {
    return Status::Invalid(fmt::format("pgoutput: {} message needs protocol version {}, the stream "
                                       "uses {}", name, MinProto(type), opt.proto_version));
  }
  m->type = type;
  m->has_xid = false;
  m->xid = 0;
  m->flags = 0;
  m->old_kind = 0;
  m->old_tuple.clear();
  m->new_tuple.clear();
  m->attributes.clear();
  m->relids.clear();
  m->gid = {};
  auto streamed_xid = [&] {
    if (opt.in_stream) {
      m->has_xid = true;
      m->xid = r.U32("xid");
    }
  };
  switch (type) {
    case PgoutputType::kBegin:
      m->final_lsn = r.U64("final LSN");
      m->timestamp = r.I64("commit timestamp");
      m->xid = r.U32("xid");
      break;
    case PgoutputType::kCommit:
      m->flags = r.U8("flags");
      m->commit_lsn = r.U64("commit LSN");
      m->end_lsn = r.U64("end LSN");
      m->timestamp = r.I64("commit timestamp");
      break;
    case PgoutputType::kOrigin:
      m->origin_lsn = r.U64("origin commit LSN");
      m->origin_name = r.String("origin name");
      break;
    case PgoutputType::kRelation: {
      streamed_xid();
      m->relid = r.U32("relation OID");
      m->nspname = r.String("namespace");
      m->relname = r.String("relation name");
      m->replica_identity = static_cast<char>(r.U8("replica identity"));
      if (r.ok() && m->replica_identity != 'd' && m->replica_identity != 'n' &&
          m->replica_identity != 'f' && m->replica_identity != 'i') {
        r.Fail(fmt::format("unknown replica identity 0x{:02x}",
                           static_cast<uint8_t>(m->replica_identity)));
      }
      uint16_t natts = r.U16("column count");
      if (r.ok() && (natts > kMaxPgColumns || natts * 10u > r.remaining())) {
        // Each column takes at least 10 bytes (flags, empty name, type, typmod).
        r.Fail(fmt::format("Relation announces {} columns with {} bytes left", natts,
                           r.remaining()));
      }
      if (r.ok()) m->attributes.resize(natts);
      for (uint16_t i = 0; i < natts && r.ok(); ++i) {
        RelationAttribute& a = m->attributes[i];
        uint8_t f = r.U8("column flags");
        if (f > 1) r.Fail(fmt::format("column {} has unknown flags 0x{:02x}", i, f));
        a.key = f == 1;
        a.name = r.String("column name");
        a.type_oid = r.U32("column type OID");
        a.typmod = static_cast<int32_t>(r.U32("column typmod"));
      }
      break;
    }
    case PgoutputType::kType:
      streamed_xid();
      m->type_oid = r.U32("type OID");
      m->nspname = r.String("type namespace");
      m->relname = r.String("type name");
      break;
    case PgoutputType::kInsert: {
      streamed_xid();
      m->relid = r.U32("relation OID");
      uint8_t n = r.U8("new tuple marker");
      if (r.ok() && n != 'N') r.Fail(fmt::format("Insert: expected 'N', got 0x{:02x}", n));
      ReadTuple(r, &m->new_tuple);
      break;
    }
    case PgoutputType::kUpdate: {
      streamed_xid();
      m->relid = r.U32("relation OID");
      uint8_t k = r.U8("tuple marker");
      if (r.ok() && (k == 'K' || k == 'O')) {
        m->old_kind = static_cast<char>(k);
        ReadTuple(r, &m->old_tuple);
        k = r.U8("new tuple marker");
      }
      if (r.ok() && k != 'N') r.Fail(fmt::format("Update: expected 'K', 'O' or 'N', got 0x{:02x}", k));
      ReadTuple(r, &m->new_tuple);
      break;
    }
    case PgoutputType::kDelete: {
      streamed_xid();
      m->relid = r.U32("relation OID");
      uint8_t k = r.U8("old tuple marker");
      if (r.ok() && k != 'K' && k != 'O') {
        r.Fail(fmt::format("Delete: expected 'K' or 'O', got 0x{:02x}", k));
      }
      m->old_kind = static_cast<char>(k);
      ReadTuple(r, &m->old_tuple);
      break;
    }
    case PgoutputType::kTruncate: {
      streamed_xid();
      uint32_t n = r.U32("relation count");
      m->flags = r.U8("options");
      if (r.ok() && (n == 0 || n > r.remaining() / 4)) {
        r.Fail(fmt::format("Truncate announces {} relations with {} bytes left", n, r.remaining()));
      }
      if (r.ok()) m->relids.resize(n);
      for (uint32_t i = 0; i < n && r.ok(); ++i) m->relids[i] = r.U32("relation OID");
      break;
    }
    case PgoutputType::kMessage: {
      streamed_xid();
      m->flags = r.U8("flags");
      m->message_lsn = r.U64("message LSN");
      m->prefix = r.String("prefix");
      uint32_t len = r.U32("content length");
      m->content = r.Bytes(len, "content");
      break;
    }
    case PgoutputType::kStreamStart:
      m->xid = r.U32("xid");
      m->first_segment = r.U8("first segment") == 1;
      break;
    case PgoutputType::kStreamStop:
      break;
    case PgoutputType::kStreamCommit:
      m->xid = r.U32("xid");
      m->flags = r.U8("flags");
      m->commit_lsn = r.U64("commit LSN");
      m->end_lsn = r.U64("end LSN");
      m->timestamp = r.I64("commit timestamp");
      break;
    case PgoutputType::kStreamAbort:
      m->xid = r.U32("xid");
      m->subxid = r.U32("subtransaction xid");
      // Protocol 4 with streaming=parallel adds the abort LSN and time.
      if (r.ok() && r.remaining() == 16) {
        m->end_lsn = r.U64("abort LSN");
        m->timestamp = r.I64("abort timestamp");
      }
      break;
    case PgoutputType::kBeginPrepare:
      m->commit_lsn = r.U64("prepare LSN");
      m->end_lsn = r.U64("end LSN");
      m->timestamp = r.I64("prepare timestamp");
      m->xid = r.U32("xid");
      m->gid = r.String("gid");
      break;
    case PgoutputType::kPrepare:
    case PgoutputType::kStreamPrepare:
    case PgoutputType::kCommitPrepared:
      m->flags = r.U8("flags");
      m->commit_lsn = r.U64(type == PgoutputType::kCommitPrepared ? "commit LSN" : "prepare LSN");
      m->end_lsn = r.U64("end LSN");
      m->timestamp = r.I64("timestamp");
      m->xid = r.U32("xid");
      m->gid = r.String("gid");
      break;
    case PgoutputType::kRollbackPrepared:
      m->flags = r.U8("flags");
      m->commit_lsn = r.U64("prepare end LSN");
      m->end_lsn = r.U64("rollback end LSN");
      m->prepare_timestamp = r.I64("prepare timestamp");
      m->timestamp = r.I64("rollback timestamp");
      m->xid = r.U32("xid");
      m->gid = r.String("gid");
      break;
  }
  if (r.ok() && r.remaining() != 0) {
    r.Fail(fmt::format("{} trailing bytes after the message", r.remaining()));
  }
  if (!r.ok()) {
    return Status::Invalid(fmt::format("pgoutput: malformed {} message ({} bytes): {}", name,
                                       in.size(), r.error()));
  }
  return Status::Ok();
}

}  // namespace diskinv
