#include "cdc/transaction_assembler.h"

#include <fmt/format.h>

#include "common/logging.h"

namespace diskinv {

Status TransactionAssembler::Feed(const XLogData& frame, const Sink& emit) {
  return FeedPayload(frame.payload, frame.data_start, emit);
}

void TransactionAssembler::Reset() {
  if (group_) pool_->Release(std::move(group_));
  group_.reset();
  skipping_ = false;
  relations_.Clear();
}

Status TransactionAssembler::Fail(Status s) {
  ++stats_.decode_errors;
  return s;
}

const std::shared_ptr<const Relation>* TransactionAssembler::Lookup(uint32_t relid,
                                                                    Status* error) {
  const auto* rel = relations_.Find(relid);
  if (rel == nullptr) {
    *error = Fail(Status::Invalid(fmt::format(
        "pgoutput: {} for relation OID {} before any Relation message describing it",
        PgoutputTypeName(msg_.type), relid)));
  }
  return rel;
}

Status TransactionAssembler::FeedPayload(std::string_view payload, Lsn lsn, const Sink& emit) {
  ++stats_.messages;
  PgoutputDecodeOptions dopt;
  dopt.proto_version = opt_.proto_version;
  if (Status s = DecodePgoutput(payload, dopt, &msg_); !s.ok()) {
    return Fail(Status::Invalid(fmt::format("at LSN {}: {}", FormatLsn(lsn), s.message())));
  }
  const PgoutputMessage& m = msg_;
  auto need_txn = [&]() -> Status {
    if (group_ || skipping_) return Status::Ok();
    return Fail(Status::Invalid(fmt::format("pgoutput: {} at LSN {} outside a transaction",
                                            PgoutputTypeName(m.type), FormatLsn(lsn))));
  };
  switch (m.type) {
    case PgoutputType::kBegin: {
      if (group_ || skipping_) {
        return Fail(Status::Invalid(fmt::format(
            "pgoutput: Begin of xid {} at LSN {} while xid {} is still open", m.xid, FormatLsn(lsn),
            xid_)));
      }
      xid_ = m.xid;
      final_lsn_ = m.final_lsn;
      begin_time_ = m.timestamp;
      part_ = 0;
      origin_.clear();
      skipping_ = m.final_lsn < opt_.skip_before;
      if (skipping_) {
        Logger("cdc")->debug("skipping xid {} (commit {} is before our position {})", m.xid,
                             FormatLsn(m.final_lsn), FormatLsn(opt_.skip_before));
        return Status::Ok();
      }
      return StartPartIfNeeded();
    }
    case PgoutputType::kCommit: {
      if (Status s = need_txn(); !s.ok()) return s;
      if (m.commit_lsn != final_lsn_) {
        return Fail(Status::Invalid(fmt::format(
            "pgoutput: Commit LSN {} of xid {} differs from its Begin's final LSN {}",
            FormatLsn(m.commit_lsn), xid_, FormatLsn(final_lsn_))));
      }
      ++stats_.transactions;
      if (skipping_) {
        skipping_ = false;
        ++stats_.skipped_transactions;
        return Status::Ok();
      }
      group_->commit_lsn = m.commit_lsn;
      group_->end_lsn = m.end_lsn;
      group_->commit_time = m.timestamp;
      group_->last_part = true;
      return emit(std::move(group_));
    }
    case PgoutputType::kOrigin:
      if (Status s = need_txn(); !s.ok()) return s;
      origin_ = m.origin_name;
      if (group_) group_->origin = origin_;
      return Status::Ok();
    case PgoutputType::kRelation:
      ++stats_.relation_messages;
      relations_.Update(m);
      return Status::Ok();
    case PgoutputType::kType:
      relations_.UpdateType(m);
      return Status::Ok();
    case PgoutputType::kInsert:
    case PgoutputType::kUpdate:
    case PgoutputType::kDelete: {
      if (Status s = need_txn(); !s.ok()) return s;
      Status err;
      const auto* rel = Lookup(m.relid, &err);
      if (rel == nullptr) return err;
      size_t ncols = (*rel)->columns.size();
      bool has_new = m.type != PgoutputType::kDelete;
      if ((has_new && m.new_tuple.size() != ncols) ||
          (m.old_kind != 0 && m.old_tuple.size() != ncols)) {
        return Fail(Status::Invalid(fmt::format(
            "pgoutput: {} at LSN {} for {} has {} columns, its Relation message has {}",
            PgoutputTypeName(m.type), FormatLsn(lsn), (*rel)->qualified_name,
            has_new ? m.new_tuple.size() : m.old_tuple.size(), ncols)));
      }
      ++stats_.changes;
      if (skipping_) return Status::Ok();
      if (Status s = MakeRoom(emit); !s.ok()) return s;
      ChangeKind kind = m.type == PgoutputType::kInsert   ? ChangeKind::kInsert
                        : m.type == PgoutputType::kUpdate ? ChangeKind::kUpdate
                                                          : ChangeKind::kDelete;
      Change& c = group_->AddChange(kind, lsn, *rel);
      if (m.old_kind != 0) group_->SetOldTuple(c, m.old_kind, m.old_tuple);
      if (has_new) group_->SetNewTuple(c, m.new_tuple);
      break;
    }
    case PgoutputType::kTruncate: {
      if (Status s = need_txn(); !s.ok()) return s;
      truncated_.clear();
      for (uint32_t relid : m.relids) {
        Status err;
        const auto* rel = Lookup(relid, &err);
        if (rel == nullptr) return err;
        truncated_.push_back(*rel);
      }
      ++stats_.changes;
      if (skipping_) return Status::Ok();
      if (Status s = MakeRoom(emit); !s.ok()) return s;
      Change& c = group_->AddChange(ChangeKind::kTruncate, lsn, nullptr);
      group_->SetTruncated(c, truncated_, m.flags);
      break;
    }
    case PgoutputType::kMessage: {
      ++stats_.changes;
      if ((m.flags & 1) == 0) {
        // Non-transactional: delivered on its own, nothing to acknowledge.
        auto g = pool_->Acquire();
        g->transactional = false;
        g->last_part = true;
        g->final_lsn = m.message_lsn;
        Change& c = g->AddChange(ChangeKind::kMessage, lsn, nullptr);
        g->SetMessage(c, m.flags, m.prefix, m.content);
        return emit(std::move(g));
      }
      if (Status s = need_txn(); !s.ok()) return s;
      if (skipping_) return Status::Ok();
      if (Status s = MakeRoom(emit); !s.ok()) return s;
      Change& c = group_->AddChange(ChangeKind::kMessage, lsn, nullptr);
      group_->SetMessage(c, m.flags, m.prefix, m.content);
      break;
    }
    default:
      return Fail(Status::Invalid(fmt::format(
          "pgoutput: {} message at LSN {}: streamed and two-phase transactions are not "
          "supported (START_REPLICATION asks for neither; check the server's options)",
          PgoutputTypeName(m.type), FormatLsn(lsn))));
  }
  return Status::Ok();
}

Status TransactionAssembler::MakeRoom(const Sink& emit) {
  // The open part is full: hand it over and continue in a new one. Done before adding a change
  // (not after), so the Commit always travels with the last changes, never in an empty part.
  if (group_->changes().size() < opt_.max_changes && group_->DataBytes() < opt_.max_bytes) {
    return Status::Ok();
  }
  group_->last_part = false;
  ++stats_.parts;
  if (Status s = emit(std::move(group_)); !s.ok()) return s;
  ++part_;
  return StartPartIfNeeded();
}

Status TransactionAssembler::StartPartIfNeeded() {
  group_ = pool_->Acquire();
  group_->xid = xid_;
  group_->final_lsn = final_lsn_;
  group_->commit_time = begin_time_;
  group_->part = part_;
  group_->origin = origin_;
  return Status::Ok();
}

}  // namespace diskinv
