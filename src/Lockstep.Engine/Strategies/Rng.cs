namespace Lockstep.Engine;

/// <summary>SplitMix64: tiny, fast and the same on every platform, so a seed means the same schedule everywhere.</summary>
internal struct Rng
{
    private ulong _state;

    public Rng(ulong seed) => _state = seed;

    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public int Below(int n) => (int)(Next() % (ulong)n);

    /// <summary>The index of a uniformly chosen set bit of <paramref name="mask"/>.</summary>
    public int PickBit(uint mask)
    {
        var k = Below(System.Numerics.BitOperations.PopCount(mask));
        for (; k > 0; k--) mask &= mask - 1;
        return System.Numerics.BitOperations.TrailingZeroCount(mask);
    }
}
