namespace Lockstep.Engine.Samples;

/// <summary>The smallest lock the engine's primitives make: acquire blocks until the word is 0, then sets it.</summary>
public sealed class SpinLock
{
    private readonly Shared<int> _owner;

    public SpinLock(string name) => _owner = new Shared<int>(name);

    public Op<int> Acquire()
    {
        var me = Sim.CurrentThread.Id + 1;
        return _owner.WaitAndUpdate(static v => v == 0, _ => me);
    }

    public Op<int> Release() => _owner.Write(0);
}
