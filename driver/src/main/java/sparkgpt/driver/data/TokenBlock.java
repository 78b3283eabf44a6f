// One partition's cached tokens: a run of consecutive windows of T+1 tokens (stride T) of one split.
package sparkgpt.driver.data;

import java.io.Serializable;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import sparkgpt.driver.config.UserError;

/**
 * Holds windows [firstWindow, firstWindow + windows): tokens [firstWindow*T, (firstWindow+windows)*T + 1)
 * of the split, read straight from the shards by the executor that caches it.
 */
public final class TokenBlock implements Serializable {
    public final long firstWindow;
    public final int windows;
    public final int blockSize;
    public final char[] tokens;

    // the shuffled order of this block's windows for one epoch, kept between steps on the executor
    private transient int[] order;
    private transient long orderEpoch = -1;

    public TokenBlock(long firstWindow, int windows, int blockSize, char[] tokens) {
        this.firstWindow = firstWindow;
        this.windows = windows;
        this.blockSize = blockSize;
        this.tokens = tokens;
    }

    public static TokenBlock load(Configuration conf, TokenShards.Split split, long firstWindow, int windows,
                                  int blockSize, int vocabSize) {
        long from = firstWindow * blockSize;
        int count = Math.toIntExact((long) windows * blockSize + 1);
        return new TokenBlock(firstWindow, windows, blockSize, TokenShards.read(conf, split, from, count, vocabSize));
    }

    /**
     * One cached TokenBlock per partition: the whole split on every partition (in order), or a contiguous
     * 1/P of its windows each (sharded, for the shuffled train split). Executors read their block from the shards.
     */
    public static JavaRDD<TokenBlock> cache(JavaSparkContext sc, TokenShards.Split split, long windows, int partitions,
                                            boolean sharded, int T, int vocabSize, String name) {
        // the closure, which every later task over this RDD deserializes with its lineage, carries a handle; the
        // configuration is read only where a block is (re)loaded
        Broadcast<byte[]> conf = HadoopConf.broadcast(sc);
        long perBlock = sharded ? windows / partitions : windows;
        if (perBlock * T + 1 > Integer.MAX_VALUE) {
            throw new UserError("the " + name + " split holds " + perBlock * T + " tokens per partition, over the 2^31 of one"
                    + " array: use more partitions with shuffle=true");
        }
        List<Integer> indices = IntStream.range(0, partitions).boxed().collect(Collectors.toList());
        JavaRDD<TokenBlock> rdd = sc.parallelize(indices, partitions)
                .map(p -> load(HadoopConf.of(conf), split, sharded ? p * perBlock : 0, (int) perBlock, T, vocabSize))
                .persist(StorageLevel.MEMORY_ONLY());
        sc.setJobDescription("load " + name + " tokens");
        rdd.count();
        return rdd;
    }

    /** Copies window w (a global index held here) into inputs (its first T tokens) and targets (its last T). */
    public void window(long w, int[] inputs, int[] targets, int offset) {
        int T = blockSize;
        int start = Math.toIntExact((w - firstWindow) * T);
        if (w < firstWindow || w >= firstWindow + windows) {
            throw new IllegalStateException("window " + w + " is not in this block [" + firstWindow + ", "
                    + (firstWindow + windows) + ")");
        }
        for (int t = 0; t < T; t++) {
            inputs[offset + t] = tokens[start + t];
            targets[offset + t] = tokens[start + t + 1];
        }
    }

    /**
     * This block's k-th window in the shuffled stream: epoch e = k / windows visits every window
     * once, in a Fisher-Yates permutation seeded from (seed, e, partition).
     */
    public synchronized long shuffled(long k, long seed, int partition) {
        long epoch = k / windows;
        // order is null in a block read from another executor's cache (a speculative copy, a replaced executor):
        // transient fields arrive unset, and orderEpoch as 0, not -1
        if (order == null || epoch != orderEpoch) {
            SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + partition);
            int[] o = new int[windows];
            for (int i = 0; i < windows; i++) o[i] = i;
            for (int i = windows - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                int tmp = o[i];
                o[i] = o[j];
                o[j] = tmp;
            }
            order = o;
            orderEpoch = epoch;
        }
        return firstWindow + order[(int) (k % windows)];
    }
}
