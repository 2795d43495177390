// ZkProbe: the reference for each zookeeper:// row of scripts/bench/compare, measured with the
// ZooKeeper project's own Java client (Debian's zookeeper package, synchronous API), so that
// nothing of swift-tooz or kazoo is in it.
//
//   java -cp CLASSPATH ZkProbe HOST:PORT ITERATIONS
//
// Prints one JSON object per row, as the C probes do (probe_common.h):
//   ping     exists("/"): one read round trip (what `tooz bench` uses as its round trip).
//   lock     create(lock dir/lock-, EPHEMERAL_SEQUENTIAL) + getChildren(lock dir) + delete(node):
//            the lock recipe's uncontended cycle (kazoo's, and ours), two writes and a read.
//   handoff  session A holds (its node is the lowest); session B (another connection, in a
//            thread) has created its node, listed the children and set a watch with exists()
//            on A's node; after 20 ms A deletes its node: timed from just before A's delete
//            until B, woken by the watch, has listed the children again and found itself first.
//   join     create(group/member, data, EPHEMERAL);
//   members  getChildren(group) (one member);
//   leave    delete(group/member).
// Before measuring, 1000 untimed exists("/") and 100 untimed lock cycles let the JIT compile
// the client's request paths; each row but handoff is then preceded by min(10, n/10) untimed
// cycles, as in `tooz bench`. This is the reference client, not a strict floor: each synchronous
// call hands the request to the client's I/O thread and the reply back (two thread wake-ups).

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public final class ZkProbe {
    private static final byte[] EMPTY = new byte[0];

    private static ZooKeeper connect(String hostPort) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        Watcher watcher = (WatchedEvent event) -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
        };
        ZooKeeper zk = new ZooKeeper(hostPort, 10000, watcher);
        if (!connected.await(30, TimeUnit.SECONDS)) throw new IllegalStateException("no session within 30 s");
        return zk;
    }

    private static void report(String key, String operation, long[] samples, int n) {
        long[] sorted = Arrays.copyOf(samples, n);
        Arrays.sort(sorted);
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + (double) sorted[n / 2]) / 2.0;
        int rank = Math.min(Math.max((int) Math.ceil(n * 0.9) - 1, 0), n - 1);
        System.out.printf(java.util.Locale.ROOT,
            "{\"key\": \"%s\", \"operation\": \"%s\", \"iterations\": %d, \"median_us\": %.3f, \"p90_us\": %.3f}%n",
            key, operation, n, median / 1000.0, sorted[rank] / 1000.0);
        System.out.flush();
    }

    private static String create(ZooKeeper zk, String path, byte[] data, CreateMode mode) throws Exception {
        return zk.create(path, data, ZooDefs.Ids.OPEN_ACL_UNSAFE, mode);
    }

    /** The children of dir sorted by their sequence number (the last 10 digits). */
    private static List<String> sortedChildren(ZooKeeper zk, String dir) throws Exception {
        List<String> children = new ArrayList<>(zk.getChildren(dir, false));
        Collections.sort(children, (a, b) -> a.substring(a.length() - 10).compareTo(b.substring(b.length() - 10)));
        return children;
    }

    private static String name(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: ZkProbe HOST:PORT ITERATIONS");
            System.exit(2);
        }
        String hostPort = args[0];
        int n = Math.max(1, Integer.parseInt(args[1]));
        int warmup = Math.min(10, Math.max(1, n / 10));
        long[] samples = new long[n];

        ZooKeeper a = connect(hostPort);
        ZooKeeper b = connect(hostPort);
        String root = "/tooz-probe-" + ProcessHandle.current().pid();
        String lockDir = root + "/lock";
        String group = root + "/group";
        create(a, root, EMPTY, CreateMode.PERSISTENT);
        create(a, lockDir, EMPTY, CreateMode.PERSISTENT);
        create(a, group, EMPTY, CreateMode.PERSISTENT);

        // Warm-up for the JIT: the read path, then the write paths (create, getChildren, delete).
        for (int i = 0; i < 1000; i++) a.exists("/", false);
        for (int i = 0; i < 100; i++) {
            String node = create(a, lockDir + "/lock-", EMPTY, CreateMode.EPHEMERAL_SEQUENTIAL);
            a.getChildren(lockDir, false);
            a.delete(node, -1);
        }

        // ping
        for (int i = -warmup; i < n; i++) {
            long start = System.nanoTime();
            a.exists("/", false);
            if (i >= 0) samples[i] = System.nanoTime() - start;
        }
        report("ping", "exists(/) round trip", samples, n);

        // lock
        for (int i = -warmup; i < n; i++) {
            long start = System.nanoTime();
            String node = create(a, lockDir + "/lock-", EMPTY, CreateMode.EPHEMERAL_SEQUENTIAL);
            List<String> children = a.getChildren(lockDir, false);
            a.delete(node, -1);
            if (i >= 0) samples[i] = System.nanoTime() - start;
            if (children.size() != 1) throw new IllegalStateException("lock dir has " + children);
        }
        report("lock", "create ephemeral-sequential + getChildren + delete", samples, n);

        // handoff: B waits in a thread of its own.
        int handoffs = Math.min(n, 50);
        SynchronousQueue<String> go = new SynchronousQueue<>();
        SynchronousQueue<Long> waiting = new SynchronousQueue<>();
        SynchronousQueue<Long> acquired = new SynchronousQueue<>();
        Thread waiter = new Thread(() -> {
            try {
                while (true) {
                    String holder = go.take();
                    if (holder.isEmpty()) return;
                    String mine = create(b, lockDir + "/lock-", EMPTY, CreateMode.EPHEMERAL_SEQUENTIAL);
                    List<String> children = sortedChildren(b, lockDir);
                    int index = children.indexOf(name(mine));
                    if (index != 1 || !children.get(0).equals(name(holder)))
                        throw new IllegalStateException("unexpected contenders " + children);
                    CountDownLatch deleted = new CountDownLatch(1);
                    Stat stat = b.exists(lockDir + "/" + children.get(0), (WatchedEvent event) -> deleted.countDown());
                    if (stat == null) throw new IllegalStateException("the holder's node is gone already");
                    waiting.put(0L);
                    deleted.await();
                    children = sortedChildren(b, lockDir);
                    long now = System.nanoTime();
                    if (!children.get(0).equals(name(mine))) throw new IllegalStateException("not first: " + children);
                    b.delete(mine, -1);
                    acquired.put(now);
                }
            } catch (Exception error) {
                error.printStackTrace();
                System.exit(1);
            }
        });
        waiter.setDaemon(true);
        waiter.start();
        for (int i = 0; i < handoffs; i++) {
            String node = create(a, lockDir + "/lock-", EMPTY, CreateMode.EPHEMERAL_SEQUENTIAL);
            a.getChildren(lockDir, false);
            go.put(node);
            waiting.take();
            Thread.sleep(20);
            long released = System.nanoTime();
            a.delete(node, -1);
            samples[i] = acquired.take() - released;
        }
        go.put("");
        waiter.join();
        report("handoff", "delete -> watch fires -> getChildren", samples, handoffs);

        // join / members / leave
        int members = Math.min(n, 100);
        long[] join = new long[members], list = new long[members], leave = new long[members];
        byte[] capabilities = "{\"capabilities\": null}".getBytes(StandardCharsets.UTF_8);
        String member = group + "/member-a";
        for (int i = -2; i < members; i++) {
            long t0 = System.nanoTime();
            create(a, member, capabilities, CreateMode.EPHEMERAL);
            long t1 = System.nanoTime();
            List<String> children = a.getChildren(group, false);
            long t2 = System.nanoTime();
            a.delete(member, -1);
            long t3 = System.nanoTime();
            if (children.size() != 1) throw new IllegalStateException("group has " + children);
            if (i < 0) continue;
            join[i] = t1 - t0;
            list[i] = t2 - t1;
            leave[i] = t3 - t2;
        }
        report("join", "create ephemeral member node", join, members);
        report("members", "getChildren(group)", list, members);
        report("leave", "delete member node", leave, members);

        a.delete(group, -1);
        a.delete(lockDir, -1);
        a.delete(root, -1);
        b.close();
        a.close();
    }
}
