// prepare on Spark: golden token streams for both tokenizers, the val split, meta.json.
package sparkgpt.driver.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
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
}
