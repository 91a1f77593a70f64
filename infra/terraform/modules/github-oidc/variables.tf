variable "repository" {
  type        = string
  description = "GitHub repository whose workflows may assume the roles, as owner/name."
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.repository))
    error_message = "repository must be owner/name."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the role names."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be 3-41 lowercase letters, digits or dashes."
  }
}

variable "roles" {
  type = map(object({
    # The GitHub environment a job must run in to assume the role.
    environment         = string
    managed_policy_arns = optional(list(string), [])
    inline_policy       = optional(string)
  }))
  description = "Roles by short name (deploy, plan), each bound to one GitHub environment."
  validation {
    condition     = length(var.roles) > 0 && alltrue([for r in values(var.roles) : can(regex("^[A-Za-z0-9_-]+$", r.environment))])
    error_message = "Give at least one role, each with a GitHub environment name."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.tags : length(k) > 0 && length(k) <= 128 && length(v) <= 256])
    error_message = "Tag keys must be 1-128 characters and values at most 256."
  }
}
