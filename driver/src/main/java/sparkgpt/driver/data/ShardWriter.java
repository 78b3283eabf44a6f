// One prepare task: tokenizes a group of pieces and writes their tokens as shards of at most shard_tokens.
package sparkgpt.driver.data;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.config.UserError;

/**
 * The shards go into the output's hidden {@link #TEMP_DIR}, named by group, task attempt and index: the
 * driver renames them into train_ and val_ once every task is done, so a failed or speculative attempt
 * never leaves a shard where a split would read it. A task holds one piece and the tokens of one shard
 * (at most shard_tokens), never its whole share of the corpus.
 */
public final class ShardWriter {
    static final String TEMP_DIR = ".prepare-tmp";

    private final FileSystem fs;
    private final Path dir;
    private final String prefix;
    private final int shardTokens;
    private final TaskContext task;
    // the shard being filled: slices of the pieces' token arrays, not a copy of them
    private final List<Slice> shard = new ArrayList<>();
    private int fill;
    private final List<String> paths = new ArrayList<>();
    private final List<Long> counts = new ArrayList<>();
    private long writeNanos;

    private ShardWriter(FileSystem fs, Path dir, String prefix, int shardTokens, TaskContext task) {
        this.fs = fs;
        this.dir = dir;
        this.prefix = prefix;
        this.shardTokens = shardTokens;
        this.task = task;
    }

    /** What one task wrote, in stream order, and where its time went (Kryo-registered: it is a task result). */
    public static final class Result {
        public final int group;
        public final String[] paths;
        public final long[] tokens;
        /** Wall-clock time in each phase; tokenizeCpuNanos: the task thread's CPU time in tokenizing. */
        public final long bytes, readNanos, tokenizeNanos, tokenizeCpuNanos, writeNanos;

        Result(int group, String[] paths, long[] tokens, long bytes, long readNanos, long tokenizeNanos,
               long tokenizeCpuNanos, long writeNanos) {
            this.group = group;
            this.paths = paths;
            this.tokens = tokens;
            this.bytes = bytes;
            this.readNanos = readNanos;
            this.tokenizeNanos = tokenizeNanos;
            this.tokenizeCpuNanos = tokenizeCpuNanos;
            this.writeNanos = writeNanos;
        }

        long totalTokens() {
            return Arrays.stream(tokens).sum();
        }
    }

    /** Tokenizes the group's pieces in order and writes them as shards under dir. */
    static Result run(Pieces.Group group, Tokenizer tokenizer, Configuration conf, String dir, int shardTokens) {
        TaskContext task = TaskContext.get();
        long attempt = task != null ? task.taskAttemptId() : 0;
        Path out = new Path(dir);
        ShardWriter w;
        try {
            w = new ShardWriter(Checkpoint.fileSystem(conf, out), new Path(out, TEMP_DIR),
                    String.format(Locale.ROOT, "%05d-%d-", group.index(), attempt), shardTokens, task);
        } catch (IOException e) {
            throw new UserError("cannot write to " + dir + ": " + e.getMessage(), e);
        }
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long bytes = 0, readNanos = 0, tokenizeNanos = 0, tokenizeCpuNanos = 0;
        for (Pieces.Piece piece : group.pieces()) {
            if (task != null) task.killTaskIfInterrupted(); // killed (its job failed, or a speculative copy won): stop
            long t0 = System.nanoTime();
            byte[] text = Pieces.read(conf, piece);
            long t1 = System.nanoTime(), cpu = threads.getCurrentThreadCpuTime();
            char[] tokens = tokenizer.encodeUtf8(text);
            long t2 = System.nanoTime();
            readNanos += t1 - t0;
            tokenizeNanos += t2 - t1;
            tokenizeCpuNanos += threads.getCurrentThreadCpuTime() - cpu; // below wall time: the core was shared
            bytes += piece.bytes();
            if (piece.document() > 0 && piece.opensDocument()) w.add(new char[] {(char) tokenizer.separator});
            w.add(tokens);
        }
        w.flush();
        return new Result(group.index(), w.paths.toArray(new String[0]),
                w.counts.stream().mapToLong(Long::longValue).toArray(), bytes, readNanos, tokenizeNanos, tokenizeCpuNanos,
                w.writeNanos);
    }

    private record Slice(char[] tokens, int from, int count) {}

    private void add(char[] tokens) {
        for (int at = 0; at < tokens.length; ) {
            if (fill == shardTokens) flush();
            int n = Math.min(tokens.length - at, shardTokens - fill);
            shard.add(new Slice(tokens, at, n));
            fill += n;
            at += n;
        }
    }

    private void flush() {
        if (fill == 0) return;
        if (task != null) task.killTaskIfInterrupted();
        long t0 = System.nanoTime();
        Path path = new Path(dir, prefix + String.format(Locale.ROOT, "%06d.bin", paths.size()));
        // not recursive: a task that Spark has not stopped yet when the driver removes TEMP_DIR (after a failure)
        // cannot create it again
        try (OutputStream out = fs.createFile(path).overwrite(true).build()) {
            TokenShards.writeHeader(out, fill);
            for (Slice slice : shard) TokenShards.writeTokens(out, slice.tokens, slice.from, slice.count);
        } catch (IOException e) {
            throw new UserError("cannot write " + path + ": " + e.getMessage(), e);
        }
        paths.add(path.toString());
        counts.add((long) fill);
        shard.clear();
        fill = 0;
        writeNanos += System.nanoTime() - t0;
    }
}
