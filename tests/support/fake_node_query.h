// FakeNodeQuery: a scripted router::NodeQuery for unit tests. No network.
//
// Per address it holds a FIFO of outcomes (a reply value or an error). query() records the
// call and answers with the next outcome for that address; when the FIFO is empty it asks the
// handler (setHandler), if any, then uses the address's sticky outcome (setSticky), else fails
// with "connection refused".
// In immediate mode (default) the callback runs inside query(), like a fast synchronous
// backend. In deferred mode callbacks wait until completeNext()/completeAll().
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "resp/value.h"
#include "router/node_query.h"

namespace slotwise::test {

class FakeNodeQuery : public router::NodeQuery {
 public:
  using Outcome = Result<resp::RespValue>;

  struct Call {
    std::string address;
    std::vector<std::string> args;
  };

  // Queues one reply value (which may itself be a Redis error value) for `address`.
  void pushReply(const std::string& address, resp::RespValue reply) {
    scripts_[address].push_back(Outcome(std::move(reply)));
  }
  // Queues one transport error (connect failure, timeout...) for `address`.
  void pushError(const std::string& address, std::string message) {
    scripts_[address].push_back(Outcome::error(std::move(message)));
  }
  // Outcome used for `address` whenever its FIFO is empty (replaces any earlier one).
  void setSticky(const std::string& address, Outcome outcome) {
    sticky_.insert_or_assign(address, std::move(outcome));
  }
  void clearSticky(const std::string& address) { sticky_.erase(address); }

  // Computes outcomes from the command, for any address whose FIFO is empty: the handler
  // returns the outcome, or nullopt to fall through to the sticky outcome. It runs when the
  // query is made (also in deferred mode), so it may simulate a server's state and advance a
  // test clock. Replaces any earlier handler; nullptr removes it.
  using Handler = std::function<std::optional<Outcome>(const std::string& address,
                                                       const std::vector<std::string>& args)>;
  void setHandler(Handler handler) { handler_ = std::move(handler); }

  // false (default): answer inside query(). true: hold callbacks until completeNext().
  void setDeferred(bool deferred) { deferred_ = deferred; }

  void query(const std::string& address, std::vector<std::string> args,
             Callback callback) override {
    Outcome outcome = nextOutcome(address, args);
    calls_.push_back(Call{address, std::move(args)});
    if (!deferred_) {
      callback(std::move(outcome));
      return;
    }
    pending_.push_back(Pending{std::move(outcome), std::move(callback)});
  }

  // Runs the oldest held callback. Returns false if none was held. The callback is removed
  // from the queue before it runs, because it may issue new queries.
  bool completeNext() {
    if (pending_.empty()) return false;
    Pending next = std::move(pending_.front());
    pending_.pop_front();
    next.callback(std::move(next.outcome));
    return true;
  }
  // Runs held callbacks (including ones queued meanwhile) until none is left; returns how many.
  size_t completeAll() {
    size_t count = 0;
    while (completeNext()) ++count;
    return count;
  }

  size_t pendingCount() const { return pending_.size(); }
  // Every query() so far, oldest first.
  const std::vector<Call>& calls() const { return calls_; }
  std::vector<std::string> calledAddresses() const {
    std::vector<std::string> out;
    for (const Call& call : calls_) out.push_back(call.address);
    return out;
  }
  void clearCalls() { calls_.clear(); }

 private:
  struct Pending {
    Outcome outcome;
    Callback callback;
  };

  Outcome nextOutcome(const std::string& address, const std::vector<std::string>& args) {
    auto& fifo = scripts_[address];
    if (!fifo.empty()) {
      Outcome outcome = std::move(fifo.front());
      fifo.pop_front();
      return outcome;
    }
    if (handler_) {
      std::optional<Outcome> outcome = handler_(address, args);
      if (outcome) return std::move(*outcome);
    }
    const auto sticky = sticky_.find(address);
    if (sticky != sticky_.end()) return sticky->second;
    return Outcome::error("connection refused (no scripted reply for " + address + ")");
  }

  std::map<std::string, std::deque<Outcome>> scripts_;
  std::map<std::string, Outcome> sticky_;
  Handler handler_;
  std::deque<Pending> pending_;
  std::vector<Call> calls_;
  bool deferred_ = false;
};

}  // namespace slotwise::test
