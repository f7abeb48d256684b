// SPDX-License-Identifier: Apache-2.0
#include "verrou/errors.hpp"

namespace verrou {

Error::Error(std::string_view code, const std::string& message)
    : std::runtime_error(message), code_(code) {}

LockNotOwnedError::LockNotOwnedError(const std::string& message)
    : Error("E_LOCK_NOT_OWNED", message) {}

LockLostError::LockLostError(const std::string& message) : LockNotOwnedError(message) {}

LockStorageError::LockStorageError(const std::string& message)
    : Error("E_LOCK_STORAGE_ERROR", message) {}

InvalidArgumentError::InvalidArgumentError(const std::string& message)
    : Error("E_INVALID_ARGUMENT", message) {}

LockTimeoutError::LockTimeoutError(const std::string& message)
    : Error("E_LOCK_TIMEOUT", message) {}

}  // namespace verrou
