// The retry policy's outcome list (retry_policy.h), one case per line of it.
#include "proxy/datapath/retry_policy.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/datapath/errors.h"
#include "router/command_table.h"

namespace slotwise::proxy {
namespace {

RetryLimits limits() {
  RetryLimits l;
  l.max_redirects = 2;
  l.tryagain_retries = 2;
  l.tryagain_backoff_ms = 10;
  l.retry_deadline_ms = 1000;
  return l;
}

resp::ReplyInfo errorInfo(std::string_view bytes) {
  resp::ReplyInfo info;
  info.frame_len = bytes.size();
  info.type = '-';
  info.error = resp::classifyError(bytes.substr(1, bytes.size() - 3));
  return info;
}

Request slotRequest(const char* command = "get") {
  Request req;
  req.info = router::lookupCommand(command);
  req.target = Request::Target::kSlot;
  req.slot = 12182;
  return req;
}

Decision reply(Request& req, std::string_view bytes, uint64_t now = 1000) {
  return decideOnReply(req, errorInfo(bytes), bytes, "10.0.0.1", limits(), now);
}

TEST(RetryPolicyTest, MovedIsFollowedToTheNamedNodeAndMarksTheMapStale) {
  Request req = slotRequest();
  const Decision d = reply(req, "-MOVED 12182 127.0.0.1:7002\r\n");
  EXPECT_EQ(d.next, Next::kForward);
  EXPECT_TRUE(d.moved);
  EXPECT_EQ(req.target, Request::Target::kAddress);
  EXPECT_EQ(req.address, "127.0.0.1:7002");
  EXPECT_FALSE(req.asking);
  EXPECT_EQ(req.redirects, 1);
}

TEST(RetryPolicyTest, MovedWithoutHostUsesTheSendersHost) {
  Request req = slotRequest();
  EXPECT_EQ(reply(req, "-MOVED 12182 :7002\r\n").next, Next::kForward);
  EXPECT_EQ(req.address, "10.0.0.1:7002");
}

TEST(RetryPolicyTest, AskSendsAskingToTheImportingNodeAndKeepsTheMap) {
  Request req = slotRequest();
  const Decision d = reply(req, "-ASK 12182 127.0.0.1:7003\r\n");
  EXPECT_EQ(d.next, Next::kForward);
  EXPECT_FALSE(d.moved);
  EXPECT_TRUE(req.asking);
  EXPECT_EQ(req.address, "127.0.0.1:7003");
}

TEST(RetryPolicyTest, RedirectBudgetSpentDeliversTheClustersOwnError) {
  Request req = slotRequest();
  EXPECT_EQ(reply(req, "-MOVED 1 127.0.0.1:7002\r\n").next, Next::kForward);
  EXPECT_EQ(reply(req, "-ASK 1 127.0.0.1:7003\r\n").next, Next::kForward);
  const Decision d = reply(req, "-MOVED 1 127.0.0.1:7002\r\n");
  EXPECT_EQ(d.next, Next::kDeliver);
  EXPECT_FALSE(d.moved);
}

TEST(RetryPolicyTest, UnparsableRedirectIsDelivered) {
  Request req = slotRequest();
  EXPECT_EQ(reply(req, "-MOVED nonsense\r\n").next, Next::kDeliver);
  EXPECT_EQ(req.redirects, 0);
}

TEST(RetryPolicyTest, TransactionRequestNeverMovesAndAbortsTheTransaction) {
  Request req = slotRequest();
  req.pinned = true;
  const Decision d = reply(req, "-MOVED 12182 127.0.0.1:7002\r\n");
  EXPECT_EQ(d.next, Next::kFail);
  EXPECT_EQ(d.error, errors::kTransactionMoved);
  EXPECT_TRUE(d.abort_transaction);
}

TEST(RetryPolicyTest, BlockingCommandFollowsRedirects) {
  Request req = slotRequest("blpop");
  req.pinned = req.blocking = true;
  EXPECT_EQ(reply(req, "-MOVED 12182 127.0.0.1:7002\r\n").next, Next::kForward);
}

TEST(RetryPolicyTest, TryAgainBacksOffExponentiallyThenDelivers) {
  Request req = slotRequest();
  EXPECT_EQ(reply(req, "-TRYAGAIN Multiple keys request during rehashing of slot\r\n", 1000).next,
            Next::kRetryLater);
  EXPECT_EQ(req.not_before_ms, 1010u);
  EXPECT_EQ(reply(req, "-TRYAGAIN x\r\n", 1010).next, Next::kRetryLater);
  EXPECT_EQ(req.not_before_ms, 1030u);
  EXPECT_GE(req.deadline_ms, req.not_before_ms);
  EXPECT_EQ(reply(req, "-TRYAGAIN x\r\n", 1030).next, Next::kDeliver);
}

TEST(RetryPolicyTest, ReadOnlyFromADemotedMasterIsRetriedUntilTheDeadline) {
  Request req = slotRequest();
  Decision d = reply(req, "-READONLY You can't write against a read only replica.\r\n", 1000);
  EXPECT_EQ(d.next, Next::kRetryLater);
  EXPECT_TRUE(d.node_failure);
  EXPECT_EQ(req.not_before_ms, 1000 + kClusterDownRetryMs);
  d = reply(req, "-READONLY You can't write against a read only replica.\r\n", 1000 + 1000);
  EXPECT_EQ(d.next, Next::kDeliver);
}

TEST(RetryPolicyTest, TryAgainInsideATransactionIsDelivered) {
  Request req = slotRequest();
  req.pinned = true;
  EXPECT_EQ(reply(req, "-TRYAGAIN x\r\n").next, Next::kDeliver);
}

TEST(RetryPolicyTest, ClusterDownIsRetriedUntilTheDeadlineAndCountsAgainstTheNode) {
  Request req = slotRequest();
  req.target = Request::Target::kAddress;  // e.g. it followed a MOVED: back to the slot's owner
  req.address = "127.0.0.1:7002";
  Decision d = reply(req, "-CLUSTERDOWN The cluster is down\r\n", 1000);
  EXPECT_EQ(d.next, Next::kRetryLater);
  EXPECT_TRUE(d.node_failure);
  EXPECT_EQ(req.not_before_ms, 1000 + kClusterDownRetryMs);
  EXPECT_EQ(req.deadline_ms, 2000u);
  EXPECT_EQ(req.target, Request::Target::kSlot);
  d = reply(req, "-CLUSTERDOWN The cluster is down\r\n", 2000);
  EXPECT_EQ(d.next, Next::kDeliver);
  EXPECT_TRUE(d.node_failure);
}

TEST(RetryPolicyTest, NoScriptOnEvalshaReloadsWhileTheBudgetLasts) {
  Request req = slotRequest("evalsha");
  EXPECT_EQ(reply(req, "-NOSCRIPT No matching script. Please use EVAL.\r\n").next,
            Next::kReloadScript);
  req.redirects = 2;
  EXPECT_EQ(reply(req, "-NOSCRIPT No matching script.\r\n").next, Next::kDeliver);
  Request get = slotRequest("get");
  EXPECT_EQ(reply(get, "-NOSCRIPT x\r\n").next, Next::kDeliver);
}

TEST(RetryPolicyTest, OtherErrorsAreDelivered) {
  Request req = slotRequest();
  EXPECT_EQ(reply(req, "-BUSY Redis is busy running a script\r\n").next, Next::kDeliver);
  EXPECT_EQ(reply(req, "-WRONGTYPE Operation against a key\r\n").next, Next::kDeliver);
}

TEST(RetryPolicyTest, ConnectionFailures) {
  Request get = slotRequest("get");
  Request set = slotRequest("set");
  EXPECT_EQ(decideOnConnFailure(set, ConnFailure::kLost, false).next, Next::kPark);
  EXPECT_EQ(decideOnConnFailure(get, ConnFailure::kLost, true).next, Next::kPark);
  Decision d = decideOnConnFailure(set, ConnFailure::kLost, true);
  EXPECT_EQ(d.next, Next::kFail);
  EXPECT_EQ(d.error, errors::kConnectionLost);
  d = decideOnConnFailure(get, ConnFailure::kTimeout, true);
  EXPECT_EQ(d.next, Next::kFail);
  EXPECT_EQ(d.error, errors::kTimeout);
  EXPECT_EQ(decideOnConnFailure(get, ConnFailure::kTimeout, false).next, Next::kPark);
  set.pinned = true;
  EXPECT_EQ(decideOnConnFailure(set, ConnFailure::kLost, false).next, Next::kFail);
}

TEST(RetryPolicyTest, ReadOnlyPartOfAFanOutIsResentAfterALostConnection) {
  Request parent;
  parent.info = router::lookupCommand("mget");
  Request part;
  part.parent = &parent;
  EXPECT_EQ(decideOnConnFailure(part, ConnFailure::kLost, true).next, Next::kPark);
  parent.info = router::lookupCommand("mset");
  EXPECT_EQ(decideOnConnFailure(part, ConnFailure::kLost, true).next, Next::kFail);
}

TEST(RetryPolicyTest, UnroutableRequestsWaitUntilTheDeadlineThenFailWithTheReason) {
  Request req = slotRequest();
  req.target = Request::Target::kAddress;
  req.asking = true;
  EXPECT_EQ(decideOnUnroutable(req, true, true, limits(), 1000).next, Next::kPark);
  EXPECT_EQ(req.deadline_ms, 2000u);
  EXPECT_EQ(req.target, Request::Target::kSlot);
  EXPECT_FALSE(req.asking);
  EXPECT_EQ(decideOnUnroutable(req, false, false, limits(), 2000).error, errors::kNoTopology);
  EXPECT_EQ(decideOnUnroutable(req, true, false, limits(), 2000).error, errors::kSlotNotServed);
  EXPECT_EQ(decideOnUnroutable(req, true, true, limits(), 2000).error,
            errors::kBackendUnreachable);
}

TEST(RetryPolicyTest, AnAddressRequestWithoutASlotGoesBackToAnyMaster) {
  Request req;
  req.target = Request::Target::kAddress;
  rerouteBySlot(req);
  EXPECT_EQ(req.target, Request::Target::kAnyMaster);
}

}  // namespace
}  // namespace slotwise::proxy
