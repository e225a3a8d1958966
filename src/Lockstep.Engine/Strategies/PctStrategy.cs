namespace Lockstep.Engine;

/// <summary>
/// Probabilistic concurrency testing (Burckhardt et al., ASPLOS'10): random distinct thread priorities, the highest
/// runnable thread runs, and at d-1 random steps the running thread drops to the lowest priority. Finds a bug of
/// depth d with probability at least 1/(n·k^(d-1)) per execution.
/// </summary>
public sealed class PctStrategy : IStrategy
{
    private readonly ulong _seed;
    private readonly int _depth;
    private readonly long _executions;
    private readonly int[] _priority = new int[SimThread.MaxThreads];
    private readonly int[] _changePoints;
    private long _index;
    private int _stepsEstimate = 64;
    private int _lastSteps;
    private int _lowest;
    private Rng _rng;

    public PctStrategy(ulong seed, int depth, long executions)
    {
        if (depth < 1) throw new ArgumentOutOfRangeException(nameof(depth), "PCT depth must be at least 1");
        _seed = seed;
        _depth = depth;
        _executions = executions;
        _changePoints = new int[depth - 1];
    }

    public string Description => $"pct(d={_depth}, seed={_seed})";

    public bool Exhaustive => false;

    public bool BeginExecution()
    {
        if (_index == _executions) return false;
        _rng = new Rng(_seed * 0x100000001B3UL + (ulong)_index++);
        _stepsEstimate = Math.Max(_stepsEstimate, _lastSteps);
        for (var i = 0; i < _changePoints.Length; i++) _changePoints[i] = 1 + _rng.Below(_stepsEstimate);
        _lowest = _depth;
        return true;
    }

    public void OnThreadCreated(int parent, int child)
        => _priority[child] = _depth + 1 + _rng.Below(1 << 20); // above every change-point priority

    public int Choose(in SchedulingState state)
    {
        _lastSteps = state.Step + 1;
        for (var i = 0; i < _changePoints.Length; i++)
            if (_changePoints[i] == state.Step && state.LastRan >= 0)
                _priority[state.LastRan] = --_lowest;
        var best = -1;
        for (var mask = state.Enabled; mask != 0; mask &= mask - 1)
        {
            var t = System.Numerics.BitOperations.TrailingZeroCount(mask);
            if (best < 0 || _priority[t] > _priority[best]) best = t;
        }
        return best;
    }
}
