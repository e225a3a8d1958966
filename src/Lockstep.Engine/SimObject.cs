namespace Lockstep.Engine;

/// <summary>How an operation touches its object; two operations on one object conflict unless both read or both commute.</summary>
public enum AccessKind : byte
{
    /// <summary>Touches no shared object (thread start, yield): independent of everything.</summary>
    None,
    Read,
    Write,
    ReadModifyWrite,
    /// <summary>An update that commutes with every other such update of the object (a counter's increment whose result nobody reads).</summary>
    Commute,
}

/// <summary>A piece of shared state whose operations are scheduling points.</summary>
public abstract class SimObject
{
    protected SimObject(string name)
    {
        Name = name;
        Execution = Execution.Current ?? throw new InvalidOperationException($"'{name}' must be created inside a model run");
        Id = Execution.NewObjectId();
    }

    public string Name { get; }

    internal int Id { get; }

    internal Execution Execution { get; }

    /// <summary>Whether a blocked operation's guard holds now.</summary>
    internal virtual bool GuardHolds(object guard) => true;

    /// <summary>Whether the guard held just before this object's <paramref name="access"/>-th access (exploration bookkeeping).</summary>
    internal virtual bool GuardHeldBefore(int access, object guard) => true;

    public override string ToString() => Name;
}

public static class AccessKindExtensions
{
    public static bool ConflictsWith(this AccessKind a, AccessKind b)
        => a != AccessKind.None && b != AccessKind.None && !(a == AccessKind.Read && b == AccessKind.Read)
           && !(a == AccessKind.Commute && b == AccessKind.Commute);

    /// <summary>Conflicts with every access of its object, so every earlier access of the object happens before it.</summary>
    public static bool Writes(this AccessKind a) => a is AccessKind.Write or AccessKind.ReadModifyWrite;
}
