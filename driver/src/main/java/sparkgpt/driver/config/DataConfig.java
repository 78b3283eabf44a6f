// What a step trains on: the data directory, the batch and how it is split, the order of the windows.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

public record DataConfig(String dir, int batchSize, int microBatchSize, long seed, boolean shuffle, int partitions)
        implements Serializable {
    public static final Key<String> DATA = Key.string("data", "europarl-byte",
            "a prepared directory (any Hadoop FS URI); europarl (GPT-2 tokens) or europarl-byte (UTF-8 bytes):"
                    + " the bundled corpus, prepared on first use")
            .check(x -> !x.isBlank(), "a prepared data directory, europarl or europarl-byte");
    public static final Key<Integer> BATCH_SIZE = Key.integer("batch_size", 8,
            "sequences per optimizer step over the whole cluster")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Integer> MICRO_BATCH_SIZE = Key.integer("micro_batch_size", 4,
            "sequences per forward/backward on one executor (its activation memory); batch_size is a multiple of"
                    + " partitions x micro_batch_size")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Long> SEED = Key.longInteger("seed", 1337, "initialization and shuffling (nanoGPT's seed)");
    public static final Key<Boolean> SHUFFLE = Key.bool("shuffle", true,
            "a seeded order of windows per epoch; false: corpus order");
    public static final Key<Integer> PARTITIONS = Key.integer("partitions", 0,
            "0: one per executor (one in local mode), each using all its cores")
            .check(Key.atLeast(0), "0 (one per executor) or a positive count");
    public static final List<Key<?>> KEYS = List.of(DATA, BATCH_SIZE, MICRO_BATCH_SIZE, SEED, SHUFFLE, PARTITIONS);

    public static DataConfig from(Settings s) {
        DataConfig c = new DataConfig(s.get(DATA), s.get(BATCH_SIZE), s.get(MICRO_BATCH_SIZE), s.get(SEED), s.get(SHUFFLE),
                s.get(PARTITIONS));
        if (c.partitions > 0 && c.batchSize % (c.partitions * c.microBatchSize) != 0) {
            throw new UserError(batchArithmetic(c.batchSize, c.partitions, c.microBatchSize));
        }
        if (c.batchSize % c.microBatchSize != 0) {
            throw s.bad("batch_size", c.batchSize, "a multiple of micro_batch_size = " + c.microBatchSize);
        }
        return c;
    }

    /** The message for a batch_size that partitions x micro_batch_size does not divide, with the sizes that work. */
    public static String batchArithmetic(int B, int partitions, int m) {
        int unit = partitions * m;
        int lower = B / unit * unit, upper = lower + unit;
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "batch_size = %d must be a multiple of partitions x micro_batch_size = %d x %d = %d: use batch_size %s%d",
                B, partitions, m, unit, lower > 0 ? lower + " or " : "", upper));
        if (B % partitions == 0) {
            int per = B / partitions;
            List<String> ms = new ArrayList<>();
            for (int d = 1; d <= per; d++) if (per % d == 0) ms.add(String.valueOf(d));
            s.append(", or micro_batch_size ").append(String.join(" or ", ms));
        }
        return s.toString();
    }
}
