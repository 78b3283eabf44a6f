// `sparkgpt sample`: text from a checkpoint, token by token, on this machine (no Spark), as nanoGPT's sample.py.
package sparkgpt.driver.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import sparkgpt.driver.checkpoint.Checkpoint;
import sparkgpt.driver.config.Key;
import sparkgpt.driver.config.KeyGroup;
import sparkgpt.driver.config.Settings;
import sparkgpt.driver.config.UserError;
import sparkgpt.driver.data.Tokenizer;
import sparkgpt.driver.step.WorkerRuntime;
import sparkgpt.worker.Gpt;
import sparkgpt.worker.GptConfig;
import sparkgpt.worker.Sampler;

/**
 * Loads the model (a checkpoint or Hugging Face directory, or an llm.c file), encodes the prompt with
 * the checkpoint's tokenizer, and writes the prompt and then each new token's bytes as it is chosen,
 * flushed, so multi-byte characters split across GPT-2 tokens reach the terminal whole.
 */
public final class Sample {
    private Sample() {}

    public record Config(String checkpoint, String prompt, int maxNewTokens, double temperature, int topK, long seed,
                         String device) {
        public static final Key<String> CHECKPOINT = Key.string("checkpoint", "",
                "required: a checkpoint directory (e.g. out/step_000200), a Hugging Face GPT-2 directory or an llm.c .bin")
                .check(x -> !x.isBlank(), "a checkpoint directory (out_dir/step_NNNNNN)");
        public static final Key<String> PROMPT = Key.string("prompt", "",
                "the text to continue; empty: start from <|endoftext|> (gpt2) or a newline (byte)");
        public static final Key<Integer> MAX_NEW_TOKENS = Key.integer("max_new_tokens", 200, "tokens generated after the prompt")
                .check(Key.atLeast(1), "a positive integer");
        public static final Key<Double> TEMPERATURE = Key.real("temperature", 0.8,
                "below 1 sharpens the distribution; 0 is greedy (nanoGPT's default 0.8)")
                .check(x -> x >= 0, "a number >= 0 (0: greedy)");
        public static final Key<Integer> TOP_K = Key.integer("top_k", 200,
                "sample among the k most likely tokens; 0: all (nanoGPT's 200)")
                .check(Key.atLeast(0), "0 (all tokens) or a positive count");
        public static final Key<Long> SEED = Key.longInteger("seed", 1337, "the same seed gives the same text");
        public static final Key<String> DEVICE = Key.choice("device", "cpu",
                "kernels for one sequence: the cpu backend is the quick one", "auto", "opencl", "cpu");
        public static final List<KeyGroup> GROUPS = List.of(new KeyGroup("sample",
                List.of(CHECKPOINT, PROMPT, MAX_NEW_TOKENS, TEMPERATURE, TOP_K, SEED, DEVICE)));

        public static Config from(Settings s) {
            return new Config(s.get(CHECKPOINT), s.get(PROMPT), s.get(MAX_NEW_TOKENS), s.get(TEMPERATURE), s.get(TOP_K),
                    s.get(SEED), s.get(DEVICE));
        }
    }

    /** Writes the prompt and the generated text to out; returns the prompt's and the new token ids. */
    public static int[] run(Config c, OutputStream out) {
        Checkpoint.Model loaded = Checkpoint.readModel(new Configuration(), c.checkpoint());
        Tokenizer tokenizer = tokenizer(loaded, c.checkpoint());
        int[] prompt = encode(tokenizer, c.prompt());
        for (int t : prompt) {
            if (t >= loaded.config().vocabSize()) {
                throw new UserError("the prompt encodes to token " + t + ", beyond the model's vocab_size "
                        + loaded.config().vocabSize() + " (" + c.checkpoint() + ")");
            }
        }
        // the context the generation can use: no wider than needed, at most the model's positions
        GptConfig shape = loaded.config();
        int T = (int) Math.min(shape.nPositions(), (long) prompt.length + c.maxNewTokens());
        try (Gpt model = new Gpt(shape.withBlockSize(T), 1, WorkerRuntime.openBackend(c.device()))) {
            model.setParameters(loaded.params());
            if (!c.prompt().isEmpty()) write(out, c.prompt().getBytes(StandardCharsets.UTF_8));
            int[] seq = new Sampler(model, c.seed()).generate(prompt, c.maxNewTokens(), (float) c.temperature(), c.topK(),
                    token -> write(out, tokenizer.decode(token)));
            write(out, new byte[] {'\n'});
            return seq;
        }
    }

    static Tokenizer tokenizer(Checkpoint.Model m, String path) {
        if (m.tokenizer() != null) {
            try {
                return Tokenizer.of(m.tokenizer());
            } catch (IllegalArgumentException e) {
                throw new UserError(path + ": unknown tokenizer '" + m.tokenizer() + "' (expected gpt2 or byte)");
            }
        }
        int V = m.config().vocabSize();
        if (V <= 256) return Tokenizer.BYTE;
        if (V >= Tokenizer.GPT2.vocabSize) return Tokenizer.GPT2;
        throw new UserError(path + " names no tokenizer and its vocab_size " + V + " fits neither gpt2 nor byte");
    }

    static int[] encode(Tokenizer t, String prompt) {
        if (prompt.isEmpty()) return new int[] {t.separator};
        char[] ids = t.encode(prompt);
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = ids[i];
        return out;
    }

    private static void write(OutputStream out, byte[] bytes) {
        try {
            out.write(bytes);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
