// SIGINT and SIGTERM during training: the first one asks the loop to stop after the current
// step, save a checkpoint and return; a second one of either ends the process at once (the
// default action), for when saving hangs.
#pragma once

namespace kiln::train {

class StopSignals {
 public:
  /// Installs the handlers for the scope (the previous ones come back on destruction).
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// The signal received since installation (SIGINT or SIGTERM), or 0.
  static int received();
};

}  // namespace kiln::train
