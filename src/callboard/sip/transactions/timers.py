"""The timer values of RFC 3261 §17 (Table 4), from T1, T2 and T4.

Retransmission timers (A, E, G) run only over unreliable transports; the lingering
timers that absorb retransmissions (D, I, K; J too) are zero over reliable ones, where
nothing is retransmitted. Timer L is RFC 6026's (the INVITE server transaction's
Accepted state).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimerConfig"]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 and the timers that are not derived from them.

    Tests use small values (``TimerConfig(t1=0.01, t2=0.04, t4=0.05, timer_d=0.1)``).
    """

    #: RTT estimate: the first retransmission interval (500 ms).
    t1: float = 0.5
    #: Largest retransmission interval of non-INVITE requests and INVITE responses (4 s).
    t2: float = 4.0
    #: Longest time a message stays in the network (5 s).
    t4: float = 5.0
    #: Timer D, the wait for response retransmissions after an ACK: at least 32 s over UDP.
    timer_d: float = 32.0
    #: When the INVITE server transaction sends ``100 Trying`` if the TU has not
    #: answered yet (RFC 3261 §17.2.1: 200 ms).
    trying_delay: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise ValueError("need 0 < T1 <= T2")
        if self.t4 <= 0 or self.timer_d < 0 or self.trying_delay < 0:
            raise ValueError("timers must be positive")

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J (unreliable), L and the 2xx-until-ACK limit."""
        return 64 * self.t1

    def timer_d_for(self, reliable: bool) -> float:
        return 0.0 if reliable else self.timer_d

    def timer_i_for(self, reliable: bool) -> float:
        return 0.0 if reliable else self.t4

    def timer_j_for(self, reliable: bool) -> float:
        return 0.0 if reliable else 64 * self.t1

    def timer_k_for(self, reliable: bool) -> float:
        return 0.0 if reliable else self.t4
