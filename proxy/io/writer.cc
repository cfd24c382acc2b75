#include "proxy/io/writer.h"

namespace slotwise::proxy {

int Writer::flush(uv_stream_t* stream) {
  if (busy_) return 0;
  if (tls_ != nullptr) {
    if (!tls_->write(pending_)) return UV_EPROTO;
    tls_->drain(wire_);
  }
  std::string& out = tls_ != nullptr ? wire_ : pending_;
  if (out.empty()) return 0;
  uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
  int n = uv_try_write(stream, &buf, 1);
  if (n == static_cast<int>(out.size())) {
    out.clear();
    return 0;
  }
  if (n < 0 && n != UV_EAGAIN) return n;
  size_t written = n > 0 ? static_cast<size_t>(n) : 0;
  writing_.assign(out, written, std::string::npos);
  out.clear();
  buf = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
  int rc = uv_write(&req_, stream, &buf, 1, &Writer::onWrite);
  if (rc < 0) return rc;
  busy_ = true;
  return 0;
}

std::string Writer::describe(int rc) const {
  if (rc == UV_EPROTO && tls_ != nullptr) return "TLS: " + tls_->error();
  return uv_strerror(rc);
}

void Writer::trim(size_t keep) {
  if (pending_.empty() && pending_.capacity() > keep) std::string().swap(pending_);
  if (wire_.empty() && wire_.capacity() > keep) std::string().swap(wire_);
  if (!busy_ && writing_.capacity() > keep) std::string().swap(writing_);
}

void Writer::onWrite(uv_write_t* req, int status) {
  auto* self = static_cast<Writer*>(req->data);
  self->busy_ = false;
  self->writing_.clear();
  self->on_done_(self->owner_, status);
}

}  // namespace slotwise::proxy
