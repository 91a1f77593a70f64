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

variable "deploy_environment" {
  type        = string
  description = "GitHub environment whose jobs get the deploy role (dev, production)."
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+$", var.deploy_environment))
    error_message = "deploy_environment must be a GitHub environment name."
  }
}

variable "plan_environment" {
  type        = string
  description = "GitHub environment whose jobs get the plan role (dev-plan; production, whose plan needs the approval)."
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+$", var.plan_environment))
    error_message = "plan_environment must be a GitHub environment name."
  }
}

variable "eks_cluster_names" {
  type        = list(string)
  description = "EKS clusters the deploy role may describe (its rights inside come from access entries)."
  validation {
    condition     = length(var.eks_cluster_names) > 0
    error_message = "Give at least one cluster."
  }
}

variable "state_bucket" {
  type        = string
  description = "S3 bucket of the Terraform state the plan role reads."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{2,62}$", var.state_bucket))
    error_message = "state_bucket must be an S3 bucket name."
  }
}

variable "state_key" {
  type        = string
  description = "Key of this environment's state object in state_bucket."
  validation {
    condition     = can(regex("^[A-Za-z0-9/_.-]+$", var.state_key))
    error_message = "state_key must be an S3 object key."
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
