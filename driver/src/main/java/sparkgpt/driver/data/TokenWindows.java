// One partition's windows of a split (T+1 tokens at stride T), read from the shards as each step needs
// them: an executor's memory does not grow with the corpus, and a partition may own any number of windows.
package sparkgpt.driver.data;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;

/**
 * Windows [firstWindow, firstWindow + windows) of the split: window w is tokens [w*T, w*T + T + 1).
 * Spark caches this description (the shards, the range, the Hadoop configuration), not tokens; the
 * executor that holds it opens the shards at its first read and reads each window with one read (two
 * where a window straddles a shard boundary) through the streams it keeps open from then on.
 */
public final class TokenWindows implements Serializable {
    public final long firstWindow;
    public final long windows;
    public final int blockSize;
    private final int vocabSize;
    // the split as plain arrays, not a TokenShards.Split: a cached partition that another executor reads (a
    // speculative copy) travels through Kryo, whose unsafe field access cannot read record fields
    private final String split;
    private final String[] paths;
    private final long[] shardTokens;
    private final byte[] hadoopConf;

    // opened on the executor at the first read; a copy read from another executor's cache opens its own
    private transient ShardReader reader;
    private transient char[] window;

    TokenWindows(TokenShards.Split split, long firstWindow, long windows, int blockSize, int vocabSize, byte[] hadoopConf) {
        this.firstWindow = firstWindow;
        this.windows = windows;
        this.blockSize = blockSize;
        this.vocabSize = vocabSize;
        this.split = split.name();
        this.paths = split.shards().stream().map(TokenShards.Shard::path).toArray(String[]::new);
        this.shardTokens = split.shards().stream().mapToLong(TokenShards.Shard::tokens).toArray();
        this.hadoopConf = hadoopConf;
    }

    /**
     * One cached TokenWindows per partition: the whole split on every partition (read in order), or a
     * contiguous 1/P of its windows each (sharded, for the shuffled train split). A job opens each
     * partition's shards on its executor, so a shard the executors cannot read fails before the first step.
     */
    public static JavaRDD<TokenWindows> open(JavaSparkContext sc, TokenShards.Split split, long windows, int partitions,
                                             boolean sharded, int T, int vocabSize) {
        // the closure, which every later task over this RDD deserializes with its lineage, carries a handle; the
        // configuration's bytes are taken from it where a partition is (re)made
        Broadcast<byte[]> conf = HadoopConf.broadcast(sc);
        long perPartition = sharded ? windows / partitions : windows;
        List<Integer> indices = IntStream.range(0, partitions).boxed().collect(Collectors.toList());
        JavaRDD<TokenWindows> rdd = sc.parallelize(indices, partitions)
                .map(p -> {
                    TokenWindows w = new TokenWindows(split, sharded ? p * perPartition : 0, perPartition, T, vocabSize,
                            conf.value());
                    w.checkReadable();
                    return w;
                })
                .persist(StorageLevel.MEMORY_ONLY());
        sc.setJobDescription("open " + split.name() + " shards");
        rdd.count();
        return rdd;
    }

    /** Reads window w (a global index held here) into inputs (its first T tokens) and targets (its last T). */
    public synchronized void window(long w, int[] inputs, int[] targets, int offset) {
        int T = blockSize;
        if (w < firstWindow || w >= firstWindow + windows) {
            throw new IllegalStateException("window " + w + " is not in this partition's [" + firstWindow + ", "
                    + (firstWindow + windows) + ")");
        }
        if (window == null) window = new char[T + 1];
        reader().read(w * T, window, 0, T + 1, vocabSize);
        for (int t = 0; t < T; t++) {
            inputs[offset + t] = window[t];
            targets[offset + t] = window[t + 1];
        }
    }

    /**
     * This partition's k-th window in the shuffled stream: epoch e = k / windows visits every window
     * once, in the {@link Permutation} keyed by (seed, e, partition).
     */
    public long shuffled(long k, long seed, int partition) {
        long epoch = k / windows;
        return firstWindow + new Permutation(windows, Permutation.key(seed, epoch, partition)).at(k % windows);
    }

    /**
     * Opens and closes the shards this partition reads, so that one its executor cannot open fails before the
     * first step. The streams the steps read through open at the first read: Spark estimates the size of what it
     * caches by walking its fields, and an open stream reaches its FileSystem and configuration.
     */
    private void checkReadable() {
        try (ShardReader r = newReader()) {
            r.open(firstWindow * blockSize, (firstWindow + windows) * blockSize + 1);
        }
    }

    private ShardReader reader() {
        if (reader == null) reader = newReader();
        return reader;
    }

    private ShardReader newReader() {
        List<TokenShards.Shard> shards = new ArrayList<>();
        long tokens = 0;
        for (int s = 0; s < paths.length; s++) {
            shards.add(new TokenShards.Shard(paths[s], shardTokens[s]));
            tokens += shardTokens[s];
        }
        return new ShardReader(HadoopConf.of(hadoopConf), new TokenShards.Split(split, List.copyOf(shards), tokens));
    }
}
