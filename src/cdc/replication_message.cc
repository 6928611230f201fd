#include "cdc/replication_message.h"

#include <fmt/format.h>

namespace diskinv {
namespace {

uint64_t Be64(std::string_view s, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

void Put64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

Result<ServerFrame> ParseServerFrame(std::string_view d) {
  ServerFrame f;
  if (d.empty()) return Status::Invalid("replication: empty CopyData message");
  if (d[0] == 'w') {
    if (d.size() < 25) {
      return Status::Invalid(fmt::format("replication: XLogData of {} bytes, at least 25 needed",
                                         d.size()));
    }
    f.kind = ServerFrame::kXLogData;
    f.xlog.data_start = Be64(d, 1);
    f.xlog.wal_end = Be64(d, 9);
    f.xlog.send_time = static_cast<int64_t>(Be64(d, 17));
    f.xlog.payload = d.substr(25);
    return f;
  }
  if (d[0] == 'k') {
    if (d.size() != 18) {
      return Status::Invalid(fmt::format("replication: keepalive of {} bytes, expected 18",
                                         d.size()));
    }
    f.kind = ServerFrame::kKeepalive;
    f.keepalive.wal_end = Be64(d, 1);
    f.keepalive.send_time = static_cast<int64_t>(Be64(d, 9));
    f.keepalive.reply_requested = d[17] != 0;
    return f;
  }
  return Status::Invalid(fmt::format("replication: unknown CopyData message type 0x{:02x}",
                                     static_cast<uint8_t>(d[0])));
}

std::string StandbyStatusUpdate(Lsn write, Lsn flush, Lsn apply, int64_t client_time,
                                bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  Put64(out, write);
  Put64(out, flush);
  Put64(out, apply);
  Put64(out, static_cast<uint64_t>(client_time));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

std::string XLogDataFrame(Lsn data_start, Lsn wal_end, int64_t send_time, std::string_view payload) {
  std::string out;
  out.reserve(25 + payload.size());
  out.push_back('w');
  Put64(out, data_start);
  Put64(out, wal_end);
  Put64(out, static_cast<uint64_t>(send_time));
  out.append(payload);
  return out;
}

std::string KeepaliveFrame(Lsn wal_end, int64_t send_time, bool reply_requested) {
  std::string out;
  out.push_back('k');
  Put64(out, wal_end);
  Put64(out, static_cast<uint64_t>(send_time));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

}  // namespace diskinv
