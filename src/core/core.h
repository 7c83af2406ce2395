// The core module's public API: ids, amounts, status and errors, clock, JSON and hashing.
#pragma once

#include "core/amount.h"
#include "core/clock.h"
#include "core/enums.h"
#include "core/errors.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/sha256.h"
#include "core/status.h"
