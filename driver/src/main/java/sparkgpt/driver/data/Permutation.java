// A keyed pseudo-random permutation of [0, n) in O(1) memory: the shuffled order of a partition's windows,
// computed index by index, so that no array of n entries exists however large the corpus.
package sparkgpt.driver.data;

/**
 * A balanced Feistel network over the smallest domain [0, 4^h) that holds n, with cycle-walking
 * into [0, n) (Black and Rogaway, "Ciphers with Arbitrary Finite Domains", 2002): a bijection on
 * the domain restricted to [0, n) by applying it again until the value falls inside: fewer than 4
 * passes on average, since the domain is under 4n. Four rounds of a keyed SplitMix64 mix as the
 * round function (Luby and Rackoff, 1988: four rounds of pseudo-random functions give a strong
 * pseudo-random permutation). {@link #at} costs a few dozen multiplications; nothing is stored.
 */
public final class Permutation {
    static final int ROUNDS = 4;

    private final long n, mask;
    private final int half;
    private final long[] roundKeys = new long[ROUNDS];

    /** The permutation of [0, n) that key selects; n at least 1. */
    public Permutation(long n, long key) {
        if (n < 1) throw new IllegalArgumentException("a permutation of [0, " + n + ")");
        int bits = 64 - Long.numberOfLeadingZeros(n - 1); // 2^bits >= n
        half = Math.max(1, (bits + 1) / 2);
        mask = half == 32 ? 0xFFFFFFFFL : (1L << half) - 1;
        this.n = n;
        for (int r = 0; r < ROUNDS; r++) roundKeys[r] = mix(key + (r + 1) * 0x9E3779B97F4A7C15L);
    }

    /** The key of one epoch of one partition's windows: every (seed, epoch, partition) its own order. */
    public static long key(long seed, long epoch, int partition) {
        return mix(seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + partition);
    }

    /** The value at position i (0 <= i < n): distinct i give distinct values in [0, n). */
    public long at(long i) {
        if (i < 0 || i >= n) throw new IndexOutOfBoundsException("position " + i + " of a permutation of [0, " + n + ")");
        long x = encrypt(i);
        // cycle-walking: the cycle through i holds a value below n after i, at worst i itself (unsigned: a domain of 2^64)
        while (Long.compareUnsigned(x, n) >= 0) x = encrypt(x);
        return x;
    }

    /** One pass of the Feistel network over [0, 4^half): left and right halves of half bits each. */
    private long encrypt(long x) {
        long left = x >>> half, right = x & mask;
        for (int r = 0; r < ROUNDS; r++) {
            long next = left ^ (mix(right ^ roundKeys[r]) & mask);
            left = right;
            right = next;
        }
        return left << half | right;
    }

    /** SplitMix64's finalizer (Steele, Lea and Flood, 2014): every input bit reaches every output bit. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
