// prepare on Spark: golden token streams for both tokenizers, the val split, meta.json; pieces and shards written
// by many tasks give the stream that one sequential pass gives.
package sparkgpt.driver.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.cli.Main;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.train.SparkSetup;

class PrepareTest {
    static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = SparkSetup.context("local[2]", "PrepareTest", Map.of());
    }

    @AfterAll
    static void stop() {
        sc.close();
    }

    static PrepareConfig config(String... args) {
        Settings s = Settings.parse(List.of(args));
        PrepareConfig c = PrepareConfig.from(s);
        s.finish("prepare");
        return c;
    }

    static char[] tokens(String dir, String split) {
        Configuration conf = new Configuration();
        TokenShards.Split s = TokenShards.split(conf, dir, split);
        return TokenShards.read(conf, s, 0, (int) s.tokens(), 65536);
    }

    @Test
    void bytesOfTwoFilesJoinedByNewline(@TempDir Path dir) throws Exception {
        Path in = Files.createDirectories(dir.resolve("in"));
        Files.writeString(in.resolve("a.txt"), "ab\n");
        Files.writeString(in.resolve("b.txt"), "cdé"); // é is two UTF-8 bytes: 0xC3 0xA9
        String out = dir.resolve("out").toString();
        TokenShards.Meta meta = Prepare.run(sc, config("--input=" + in, "--output=" + out, "--tokenizer=byte",
                "--val_fraction=0.25"));
        // a b \n | \n | c d 0xC3 0xA9 : 3 + 1 separator + 4 = 8 tokens; val = floor(0.25 * 8) = 2
        assertEquals(2, meta.documents());
        assertEquals(6, meta.trainTokens());
        assertEquals(2, meta.valTokens());
        assertArrayEquals(new char[] {'a', 'b', '\n', '\n', 'c', 'd'}, tokens(out, "train"));
        assertArrayEquals(new char[] {0xC3, 0xA9}, tokens(out, "val"));
        String json = Files.readString(dir.resolve("out/meta.json"));
        assertTrue(json.contains("\"vocab_size\": 256") && json.contains("\"tokenizer\": \"byte\""), json);
        // Hadoop's checksummed local file system would put a .crc file beside each shard
        try (var files = Files.list(dir.resolve("out"))) {
            assertEquals(List.of(), files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".crc")).toList());
        }
    }

    @Test
    void gpt2GoldenTokensWithEndOfTextBetweenDocuments(@TempDir Path dir) throws Exception {
        Path in = Files.createDirectories(dir.resolve("in"));
        Files.writeString(in.resolve("1.txt"), "Hello world!");
        Files.writeString(in.resolve("2.txt"), "Hello world!");
        String out = dir.resolve("out").toString();
        TokenShards.Meta meta = Prepare.run(sc, config("--input=" + in, "--output=" + out, "--val_fraction=0",
                "--shard_tokens=4"));
        assertEquals(50257, meta.vocabSize());
        assertEquals(7, meta.trainTokens());
        // jtokkit's golden vector "Hello world!" -> [15496, 995, 0]; shards of at most 4 tokens
        assertArrayEquals(new char[] {15496, 995, 0, 50256, 15496, 995, 0}, tokens(out, "train"));
        assertTrue(Files.exists(dir.resolve("out/train_000001.bin")));
        assertFalse(Files.exists(dir.resolve("out/train_000002.bin")));
        assertEquals(0, TokenShards.split(new Configuration(), out, "val").tokens());
    }

    @Test
    void europarlKeepsEnglishBodies(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("europarl.lines.txt");
        Files.writeString(in, String.join("\n",
                "Debate\t2004-01-01\tThe Commission has to report to the Parliament on this matter, and that is the point.",
                "Debatte\t2004-01-01\tDie Kommission muss dem Parlament in dieser Angelegenheit Bericht erstatten.",
                "Débat\t2004-01-01\tLa Commission doit faire rapport au Parlement sur cette question."),
                StandardCharsets.UTF_8);
        String out = dir.resolve("out").toString();
        TokenShards.Meta meta = Prepare.run(sc, config("--input=" + in, "--output=" + out, "--format=europarl",
                "--tokenizer=byte", "--val_fraction=0"));
        assertEquals(1, meta.documents());
        assertEquals("The Commission has to report to the Parliament on this matter, and that is the point.".length(),
                meta.trainTokens());
    }

    /** Documents of every kind: a large one (blank lines, CRLF, non-ASCII), a one-liner, an empty one, a middling one. */
    static List<String> documents(Path in) throws Exception {
        List<String> docs = List.of(PiecesTest.text(3, 150_000), "Hello world!", "", PiecesTest.text(4, 30_000));
        Files.createDirectories(in);
        for (int i = 0; i < docs.size(); i++) Files.writeString(in.resolve(i + ".txt"), docs.get(i));
        return docs;
    }

    /** The stream as one sequential pass makes it: each document tokenized whole, joined by the separator. */
    static char[] sequential(Tokenizer tokenizer, List<String> docs) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < docs.size(); i++) {
            if (i > 0) b.append((char) tokenizer.separator);
            b.append(tokenizer.encode(docs.get(i)));
        }
        return b.toString().toCharArray();
    }

    static void assertSplits(char[] stream, double valFraction, String out) {
        int val = (int) Math.floor(valFraction * stream.length);
        assertArrayEquals(Arrays.copyOfRange(stream, 0, stream.length - val), tokens(out, "train"), out + " train");
        assertArrayEquals(Arrays.copyOfRange(stream, stream.length - val, stream.length), tokens(out, "val"), out + " val");
    }

    static List<String> names(Path dir) throws Exception {
        try (var files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void manyTasksGiveTheStreamOfOneTaskAndOfASequentialPass(@TempDir Path dir) throws Exception {
        List<String> docs = documents(dir.resolve("in"));
        for (Tokenizer tokenizer : Tokenizer.values()) {
            char[] stream = sequential(tokenizer, docs);
            String many = dir.resolve("many-" + tokenizer.key).toString(), one = dir.resolve("one-" + tokenizer.key).toString();
            Prepare.Report parallel = Prepare.prepare(sc, config("--input=" + dir.resolve("in"), "--output=" + many,
                    "--tokenizer=" + tokenizer.key, "--val_fraction=0.15"), 8);
            Prepare.Report single = Prepare.prepare(sc, config("--input=" + dir.resolve("in"), "--output=" + one,
                    "--tokenizer=" + tokenizer.key, "--val_fraction=0.15"), 1);
            assertEquals(8, parallel.tasks().size());
            assertTrue(parallel.pieces() >= 8, parallel.pieces() + " pieces of 4 documents"); // the large ones were cut
            assertEquals(1, single.tasks().size());
            assertEquals(4, parallel.meta().documents());
            assertEquals(stream.length, parallel.meta().trainTokens() + parallel.meta().valTokens());
            assertSplits(stream, 0.15, many);
            assertSplits(stream, 0.15, one);
        }
    }

    @Test
    void aLargeFileIsSpreadOverEveryTask(@TempDir Path dir) throws Exception {
        Path in = Files.writeString(dir.resolve("one.txt"), PiecesTest.text(5, 200_000));
        String out = dir.resolve("out").toString();
        Prepare.Report r = Prepare.prepare(sc, config("--input=" + in, "--output=" + out, "--tokenizer=byte"),
                Prepare.TASKS_PER_CORE * sc.defaultParallelism());
        assertEquals(8, r.tasks().size());
        long mean = Files.size(in) / 8;
        for (ShardWriter.Result task : r.tasks()) {
            assertTrue(Math.abs(task.totalTokens() - mean) < mean / 2, "task " + task.group + ": " + task.totalTokens()
                    + " tokens, the mean is " + mean);
        }
        assertSplits(sequential(Tokenizer.BYTE, List.of(Files.readString(in))), 0.1, out);
    }

    @Test
    void shardsHoldAtMostShardTokensAndReplaceAnEarlierPreparation(@TempDir Path dir) throws Exception {
        List<String> docs = documents(dir.resolve("in"));
        Path out = dir.resolve("out");
        Prepare.prepare(sc, config("--input=" + dir.resolve("in"), "--output=" + out, "--tokenizer=byte",
                "--shard_tokens=10000"), 8);
        assertSplits(sequential(Tokenizer.BYTE, docs), 0.1, out.toString());
        Configuration conf = new Configuration();
        List<String> expected = new ArrayList<>();
        for (String split : List.of("train", "val")) {
            List<TokenShards.Shard> shards = TokenShards.split(conf, out.toString(), split).shards();
            for (int i = 0; i < shards.size(); i++) {
                expected.add(String.format("%s_%06d.bin", split, i));
                assertTrue(shards.get(i).tokens() > 0 && shards.get(i).tokens() <= 10_000, shards.get(i).toString());
            }
        }
        expected.add("meta.json");
        expected.sort(null);
        assertEquals(expected, names(out)); // and no temporary file
        assertTrue(expected.size() > 50, expected.size() + " files"); // 514,178 tokens

        // a smaller corpus into the same directory: the earlier shards go
        Path small = Files.writeString(dir.resolve("small.txt"), "Hello world!");
        Prepare.prepare(sc, config("--input=" + small, "--output=" + out, "--tokenizer=byte", "--val_fraction=0.5"), 8);
        assertEquals(List.of("meta.json", "train_000000.bin", "val_000000.bin"), names(out));
        assertSplits(sequential(Tokenizer.BYTE, List.of("Hello world!")), 0.5, out.toString());
    }

    @Test
    void invalidUtf8DeepInALargeFileIsNamedByItsOffsetAndLeavesTheEarlierPreparation(@TempDir Path dir) throws Exception {
        Path good = Files.writeString(dir.resolve("good.txt"), "Hello world!");
        Path out = dir.resolve("out");
        Prepare.prepare(sc, config("--input=" + good, "--output=" + out, "--tokenizer=byte"), 8);
        List<String> before = names(out);

        byte[] text = PiecesTest.text(6, 200_000).getBytes(StandardCharsets.UTF_8);
        int at = text.length * 3 / 4;
        text[at] = (byte) 0xff;
        Path bad = Files.write(dir.resolve("bad.txt"), text);
        for (Path target : List.of(out, dir.resolve("fresh"))) {
            Exception e = assertThrows(Exception.class, () -> Prepare.prepare(sc, config("--input=" + bad,
                    "--output=" + target, "--tokenizer=byte"), 8));
            assertNotNull(Main.userError(e), e.toString());
            assertTrue(Main.userError(e).getMessage().contains(bad + ": invalid UTF-8 at byte " + at + " (ff)"),
                    Main.userError(e).getMessage());
        }
        assertEquals(before, names(out)); // complete (meta.json), no temporary shard
        assertSplits(sequential(Tokenizer.BYTE, List.of("Hello world!")), 0.1, out.toString());
        assertFalse(Files.exists(dir.resolve("fresh")), "prepare left a directory for input it rejected");
    }
}
