namespace Lockstep.Engine;

/// <summary>Random walk: at every step a uniformly chosen runnable thread. Execution i uses seed (seed, i).</summary>
public sealed class RandomStrategy : IStrategy
{
    private readonly ulong _seed;
    private readonly long _executions;
    private long _index;
    private Rng _rng;

    public RandomStrategy(ulong seed, long executions)
    {
        _seed = seed;
        _executions = executions;
    }

    public string Description => $"random(seed={_seed})";

    public bool Exhaustive => false;

    public bool BeginExecution()
    {
        if (_index == _executions) return false;
        _rng = new Rng(_seed * 0x100000001B3UL + (ulong)_index++);
        return true;
    }

    public int Choose(in SchedulingState state) => _rng.PickBit(state.Enabled);
}
