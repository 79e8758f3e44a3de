// The public gRPC port's connection accounting: per-address and total
// limits, and closed connections (descriptor closed or reused for another
// socket) freeing their slot when a limit would refuse.
#include "public_grpc_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>

namespace tongban::edge {
namespace {

using Verdict = ConnectionTable::Verdict;
using Clock = std::chrono::steady_clock;

// Descriptors of a fake process: fd → inode of the socket it refers to.
struct FakeFds {
  std::map<int, ino_t> open;
  ConnectionTable::AliveCheck check() {
    return [this](int fd, ino_t inode) {
      auto it = open.find(fd);
      return it != open.end() && it->second == inode;
    };
  }
};

TEST(ConnectionTableTest, RefusesOverThePerAddressLimitUntilOneCloses) {
  FakeFds fds;
  ConnectionTable table(100, 2, fds.check());
  const Clock::time_point t;
  fds.open = {{10, 1000}, {11, 1001}, {12, 1002}};
  EXPECT_EQ(table.Admit("198.51.100.7", 10, 1000, t), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit("198.51.100.7", 11, 1001, t), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit("198.51.100.7", 12, 1002, t), Verdict::kOverAddressLimit);
  // Another address is not affected.
  EXPECT_EQ(table.Admit("198.51.100.8", 12, 1002, t), Verdict::kAdmitted);
  EXPECT_EQ(table.count("198.51.100.7"), 2u);
  EXPECT_EQ(table.total(), 3u);

  // gRPC closed fd 10: the next connection from that address takes its slot.
  fds.open.erase(10);
  fds.open[13] = 1003;
  EXPECT_EQ(table.Admit("198.51.100.7", 13, 1003, t), Verdict::kAdmitted);
  EXPECT_EQ(table.count("198.51.100.7"), 2u);
  EXPECT_EQ(table.total(), 3u);
}

TEST(ConnectionTableTest, AReusedDescriptorNumberIsAnotherConnection) {
  FakeFds fds;
  ConnectionTable table(100, 1, fds.check());
  const Clock::time_point t;
  fds.open = {{10, 1000}};
  EXPECT_EQ(table.Admit("2001:db8::1", 10, 1000, t), Verdict::kAdmitted);
  // fd 10 was closed by gRPC and the number reused for a new socket.
  fds.open[10] = 2000;
  EXPECT_EQ(table.Admit("2001:db8::1", 10, 2000, t), Verdict::kAdmitted);
  EXPECT_EQ(table.total(), 1u);
}

TEST(ConnectionTableTest, TotalLimitRechecksAtMostOncePerInterval) {
  FakeFds fds;
  ConnectionTable table(2, 10, fds.check(), std::chrono::milliseconds(50));
  Clock::time_point t = Clock::time_point() + std::chrono::seconds(1);
  fds.open = {{10, 1000}, {11, 1001}};
  EXPECT_EQ(table.Admit("192.0.2.1", 10, 1000, t), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit("192.0.2.2", 11, 1001, t), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit("192.0.2.3", 12, 1002, t), Verdict::kOverTotalLimit);  // re-checked: full
  fds.open.erase(10);
  // Within the interval the count is not re-checked: still refused.
  EXPECT_EQ(table.Admit("192.0.2.3", 12, 1002, t + std::chrono::milliseconds(10)),
            Verdict::kOverTotalLimit);
  // After it, the closed connection is found and its slot reused.
  EXPECT_EQ(table.Admit("192.0.2.3", 12, 1002, t + std::chrono::milliseconds(60)),
            Verdict::kAdmitted);
  EXPECT_EQ(table.total(), 2u);
  EXPECT_EQ(table.count("192.0.2.1"), 0u);
}

TEST(ConnectionTableTest, SweepDropsClosedConnections) {
  FakeFds fds;
  ConnectionTable table(100, 10, fds.check());
  const Clock::time_point t;
  fds.open = {{10, 1000}, {11, 1001}, {12, 1002}};
  table.Admit("192.0.2.1", 10, 1000, t);
  table.Admit("192.0.2.1", 11, 1001, t);
  table.Admit("192.0.2.2", 12, 1002, t);
  fds.open.erase(11);
  fds.open.erase(12);
  table.Sweep();
  EXPECT_EQ(table.total(), 1u);
  EXPECT_EQ(table.count("192.0.2.1"), 1u);
  EXPECT_EQ(table.count("192.0.2.2"), 0u);
}

TEST(SocketStillOpenTest, FollowsTheRealDescriptor) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  struct stat st;
  ASSERT_EQ(fstat(pair[0], &st), 0);
  EXPECT_TRUE(SocketStillOpen(pair[0], st.st_ino));
  EXPECT_FALSE(SocketStillOpen(pair[1], st.st_ino));  // another socket
  close(pair[0]);
  EXPECT_FALSE(SocketStillOpen(pair[0], st.st_ino));
  close(pair[1]);
}

TEST(ClientAddressOfTest, MapsIpv4MappedAddressesToIpv4) {
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_addr.s6_addr[10] = 0xff;
  v6.sin6_addr.s6_addr[11] = 0xff;
  v6.sin6_addr.s6_addr[12] = 203;
  v6.sin6_addr.s6_addr[13] = 0;
  v6.sin6_addr.s6_addr[14] = 113;
  v6.sin6_addr.s6_addr[15] = 7;
  EXPECT_EQ(ClientAddressOf(reinterpret_cast<sockaddr*>(&v6)), "203.0.113.7");
  v6.sin6_addr = in6addr_loopback;
  EXPECT_EQ(ClientAddressOf(reinterpret_cast<sockaddr*>(&v6)), "::1");
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_addr.s_addr = htonl(0x7f000002);
  EXPECT_EQ(ClientAddressOf(reinterpret_cast<sockaddr*>(&v4)), "127.0.0.2");
}

}  // namespace
}  // namespace tongban::edge
