// `sparkgpt sample` without Spark: the checkpoint's tokenizer, the same seed gives the same text, and
// the bytes streamed token by token are exactly the prompt and the decoded new tokens.
package sparkgpt.driver.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.data.Tokenizer;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.ParameterLayout;
import sparkgpt.worker.optim.AdamW;

class SampleTest {

    /** A checkpoint with random weights large enough that the distributions are far from uniform. */
    static String checkpoint(Path out, GptConfig shape, String tokenizer) {
        ParameterLayout layout = new ParameterLayout(shape);
        float[] w = new float[layout.size()];
        Random r = new Random(3);
        for (int i = 0; i < w.length; i++) w[i] = (float) (0.3 * r.nextGaussian());
        return Checkpoint.write(new Configuration(), out.toString(), new Checkpoint.Model(shape, w, tokenizer),
                new AdamW(layout, new AdamW.Options(0.9f, 0.95f, 1e-8f, 0f)),
                new Checkpoint.State(1, "adamw", 1, Double.POSITIVE_INFINITY, 0, 1, 1, 1, true, Map.of()), 0);
    }

    static byte[] sample(String dir, String prompt, long seed, int[][] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Sample.Config c = new Sample.Config(dir, prompt, 24, 1.0, 0, seed, "cpu");
        ids[0] = Sample.run(c, out);
        return out.toByteArray();
    }

    @Test
    void byteModelsReproduceWithTheSameSeed(@TempDir Path tmp) {
        String dir = checkpoint(tmp, new GptConfig(2, 2, 16, 16, 256, 16), "byte");
        int[][] ids = new int[1][];
        byte[] a = sample(dir, "The ", 5, ids), b = sample(dir, "The ", 5, ids), c = sample(dir, "The ", 6, ids);
        assertArrayEquals(a, b);
        assertFalse(Arrays.equals(a, c));
        assertEquals(4 + 24 + 1, a.length); // the prompt, one byte per token, a newline
        assertEquals("The ", new String(a, 0, 4, StandardCharsets.US_ASCII));
        assertEquals(4 + 24, ids[0].length);
    }

    @Test
    void gpt2TokensStreamAsTheirBytes(@TempDir Path tmp) {
        String dir = checkpoint(tmp, new GptConfig(1, 2, 16, 32, 50257, 32), "gpt2");
        String prompt = "Zürich ☃";
        int[][] ids = new int[1][];
        byte[] out = sample(dir, prompt, 9, ids);
        int[] generated = Arrays.copyOfRange(ids[0], ids[0].length - 24, ids[0].length);
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.writeBytes(prompt.getBytes(StandardCharsets.UTF_8));
        for (int t : generated) expected.writeBytes(Tokenizer.GPT2.decode(t));
        expected.write('\n');
        assertArrayEquals(expected.toByteArray(), out);
        // the prompt went in as GPT-2 tokens
        assertArrayEquals(Sample.encode(Tokenizer.GPT2, prompt), Arrays.copyOf(ids[0], ids[0].length - 24));
        assertEquals(List.of(15496, 995, 0), Arrays.stream(Sample.encode(Tokenizer.GPT2, "Hello world!")).boxed().toList());
    }

    @Test
    void missingCheckpointKeyIsAUserError() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(2, Main.exitCode(new String[] {"sample", "--prompt=x"}, new PrintStream(err, true, StandardCharsets.UTF_8)));
        assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("sparkgpt: checkpoint = (none): expected a checkpoint directory"),
                err.toString(StandardCharsets.UTF_8));
    }
}
