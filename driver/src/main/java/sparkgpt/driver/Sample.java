// `sparkgpt sample`: text from a checkpoint, token by token, on this machine (no Spark), as nanoGPT's sample.py.
package sparkgpt.driver;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
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
        public static Config from(Settings s) {
            Config c = new Config(
                    s.string("checkpoint", ""),          // a checkpoint dir (e.g. out/step_000200), a HF GPT-2 dir or an llm.c .bin
                    s.string("prompt", ""),              // empty: start from <|endoftext|> (gpt2) or a newline (byte)
                    s.integer("max_new_tokens", 200),    // tokens generated after the prompt
                    s.real("temperature", 0.8),          // < 1 sharpens the distribution; 0 is greedy (nanoGPT's default 0.8)
                    s.integer("top_k", 200),             // sample among the k most likely tokens; 0: all (nanoGPT's 200)
                    s.longInteger("seed", 1337),         // the same seed gives the same text
                    s.choice("device", "cpu", "auto", "opencl", "cpu")); // one sequence: the cpu backend is the quick one
            if (c.checkpoint.isEmpty()) throw s.bad("checkpoint", "''", "a checkpoint directory (out_dir/step_NNNNNN)");
            if (c.maxNewTokens <= 0) throw s.bad("max_new_tokens", c.maxNewTokens, "a positive integer");
            if (!(c.temperature >= 0)) throw s.bad("temperature", c.temperature, "a number >= 0 (0: greedy)");
            if (c.topK < 0) throw s.bad("top_k", c.topK, "0 (all tokens) or a positive count");
            return c;
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
