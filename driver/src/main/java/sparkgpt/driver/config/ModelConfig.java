// The model's shape: a GPT-2 decoder of n_layer blocks, n_head heads over n_embd channels, context block_size.
package sparkgpt.driver.config;

import java.io.Serializable;
import java.util.List;

public record ModelConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize) implements Serializable {
    public static final Key<Integer> N_LAYER = Key.integer("n_layer", 4,
            "transformer blocks; a model a 2-core CPU trains in minutes (GPT-2 small: 12)")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Integer> N_HEAD = Key.integer("n_head", 4,
            "attention heads; n_embd must be a multiple (head size 32 here; GPT-2 small: 12 heads of 64)")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Integer> N_EMBD = Key.integer("n_embd", 128, "channels of the residual stream (GPT-2 small: 768)")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Integer> BLOCK_SIZE = Key.integer("block_size", 128,
            "context length T in tokens (GPT-2: 1024); a pretrained model's n_positions bounds it")
            .check(Key.atLeast(1), "a positive integer");
    public static final Key<Integer> VOCAB_SIZE = Key.integer("vocab_size", 0,
            "0: the data's meta.json; or more, e.g. 50304 to pad GPT-2's 50257 to a multiple of 64")
            .check(Key.atLeast(0), "0 (from meta.json) or a positive vocabulary size");
    public static final List<Key<?>> KEYS = List.of(N_LAYER, N_HEAD, N_EMBD, BLOCK_SIZE, VOCAB_SIZE);

    public static ModelConfig from(Settings s) {
        ModelConfig c = new ModelConfig(s.get(N_LAYER), s.get(N_HEAD), s.get(N_EMBD), s.get(BLOCK_SIZE), s.get(VOCAB_SIZE));
        if (c.nEmbd % c.nHead != 0) {
            throw s.bad("n_embd", c.nEmbd, "a multiple of n_head = " + c.nHead + " (each head gets n_embd / n_head channels)");
        }
        return c;
    }
}
