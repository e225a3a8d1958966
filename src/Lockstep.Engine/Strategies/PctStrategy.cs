namespace Lockstep.Engine;

/// <summary>
/// Probabilistic concurrency testing (Burckhardt et al., ASPLOS'10): random distinct thread priorities, the highest
/// runnable thread runs, and at d-1 random steps the thread about to run drops to the lowest priority. Finds a bug of
/// depth d with probability at least 1/(n·k^(d-1)) per execution, where k is the number of steps. Only steps at which
/// more than one thread can run count towards k, and the change points are drawn from [1, k] with k the most such steps
/// an execution so far has had: the first execution, which has none, measures it. Execution i of a seed is always the
/// same schedule.
/// </summary>
public sealed class PctStrategy : IStrategy
{
    private readonly ulong _seed;
    private readonly int _depth;
    private readonly long _executions;
    private readonly int[] _priority = new int[SimThread.MaxThreads];
    private readonly int[] _changePoints;
    private int _changes;
    private long _index;
    private int _longest;
    private int _choices;
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
        _longest = Math.Max(_longest, _choices);
        _choices = 0;
        // d-1 distinct change points among the first _longest choice points (all of them if there are fewer)
        _changes = Math.Min(_changePoints.Length, _longest);
        for (var i = 0; i < _changes; i++)
        {
            int point;
            do point = 1 + _rng.Below(_longest);
            while (Array.IndexOf(_changePoints, point, 0, i) >= 0);
            _changePoints[i] = point;
        }
        _lowest = _depth;
        return true;
    }

    public void OnThreadCreated(int parent, int child)
        => _priority[child] = _depth + 1 + _rng.Below(1 << 20); // above every change-point priority

    public int Choose(in SchedulingState state)
    {
        var enabled = state.Enabled;
        if ((enabled & (enabled - 1)) == 0) return System.Numerics.BitOperations.TrailingZeroCount(enabled);
        _choices++;
        var best = Highest(enabled);
        if (Array.IndexOf(_changePoints, _choices, 0, _changes) >= 0)
        {
            _priority[best] = --_lowest;
            best = Highest(enabled);
        }
        return best;
    }

    private int Highest(uint enabled)
    {
        var best = -1;
        for (var mask = enabled; mask != 0; mask &= mask - 1)
        {
            var t = System.Numerics.BitOperations.TrailingZeroCount(mask);
            if (best < 0 || _priority[t] > _priority[best]) best = t;
        }
        return best;
    }
}
